"""STOW-RS (PS3.18 10.5): store the parts of a multipart/related request as instances.

Each part goes through the upload path of the web form and the API
(`imaging.services.scan_upload`: validation by content, encryption, storage, the hierarchy,
key wraps, the pipeline, and through it the ledger), for the patient the request names and
after the policy has allowed the caller to upload for them (the view's job). A part that
fails leaves nothing behind and is reported in the FailedSOPSequence with its reason; the
others are stored. An instance the patient already has, byte for byte, is not stored again
(a retried STOW succeeds); one with the same SOP Instance UID and other content is refused.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from imaging import services
from imaging.dicom import json_model
from imaging.dicom.identity import InstanceIdentity, read_identity
from imaging.dicom.multipart import Part
from imaging.dicomweb.selectors import stored_instance
from imaging.validation import UploadRejected, sniff_format
from portal.models import User

log = logging.getLogger(__name__)

DICOM = "application/dicom"
CONFLICTS = {json_model.DATA_SET_DOES_NOT_MATCH, json_model.DUPLICATE_SOP_INSTANCE}


@dataclass(frozen=True)
class Stored:
    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str
    series_uid: str


@dataclass(frozen=True)
class Failed:
    sop_class_uid: str
    sop_instance_uid: str
    reason: int  # FailureReason (imaging.dicom.json_model)


@dataclass
class StoreResult:
    stored: list[Stored] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)

    @property
    def status(self) -> int:
        """200 all stored, 202 some, 409 none for a conflict, 400 none for bad data (PS3.18 10.5.3)."""
        if not self.failed:
            return 200
        if self.stored:
            return 202
        return 409 if any(f.reason in CONFLICTS for f in self.failed) else 400


def _reason(exc: UploadRejected) -> int:
    if exc.status == 409:
        return json_model.DATA_SET_DOES_NOT_MATCH
    if exc.status in (413, 503):
        return json_model.OUT_OF_RESOURCES
    return json_model.CANNOT_UNDERSTAND


def _peek(data: bytes) -> tuple[str, str]:
    """(SOP class, SOP instance) UIDs of a part whose identity is incomplete, for its report."""
    try:
        from imaging.validation import read_dicom_header

        ds = read_dicom_header(data)
        return str(ds.get("SOPClassUID", "") or ""), str(ds.get("SOPInstanceUID", "") or "")
    except Exception:  # noqa: BLE001 - only a label for the failure report
        return "", ""


def _store_part(*, actor: User, patient: User, part: Part, study_uid: str | None) -> Stored | Failed:
    data = part.content
    if part.media_type not in ("", DICOM) or sniff_format(data[:256]) != "dicom":
        return Failed("", "", json_model.CANNOT_UNDERSTAND)
    try:
        identity: InstanceIdentity = read_identity(data)
    except UploadRejected:
        return Failed(*_peek(data), json_model.CANNOT_UNDERSTAND)
    sop_class, sop_uid = identity.sop_class_uid, identity.sop_instance_uid
    if study_uid is not None and identity.study_uid != study_uid:
        return Failed(sop_class, sop_uid, json_model.DATA_SET_DOES_NOT_MATCH)
    stored = Stored(sop_class, sop_uid, identity.study_uid, identity.series_uid)
    existing = stored_instance(patient=patient, sop_uid=sop_uid)
    if existing is not None:
        same = (
            existing.original_sha256 == hashlib.sha256(data).hexdigest()
            and existing.series.series_instance_uid == identity.series_uid
            and existing.series.study.study_instance_uid == identity.study_uid
        )
        return stored if same else Failed(sop_class, sop_uid, json_model.DUPLICATE_SOP_INSTANCE)
    try:
        services.scan_upload(uploader=actor, patient=patient, file=data, content_type=DICOM)
    except UploadRejected as exc:
        return Failed(sop_class, sop_uid, _reason(exc))
    except Exception as exc:  # noqa: BLE001 - a STOW request never ends in a 500: the part fails
        log.error("STOW-RS: a part could not be stored (%s)", type(exc).__name__)  # no data in logs
        return Failed(sop_class, sop_uid, json_model.PROCESSING_FAILURE)
    return stored


def instances_store(
    *, actor: User, patient: User, parts: list[Part], study_uid: str | None = None
) -> StoreResult:
    """Store each part for `patient` (the caller may upload for them: the policy said so).
    `study_uid` is the study of the request's path: a part of another study fails."""
    result = StoreResult()
    for part in parts:
        outcome = _store_part(actor=actor, patient=patient, part=part, study_uid=study_uid)
        (result.stored if isinstance(outcome, Stored) else result.failed).append(outcome)
    return result


def store_response(result: StoreResult, *, base: str) -> dict:
    """The Store Instances Response Module (DICOM JSON) of `result`."""

    def instance_url(s: Stored) -> str:
        return f"{base}/studies/{s.study_uid}/series/{s.series_uid}/instances/{s.sop_instance_uid}"

    first = result.stored[0] if result.stored else None
    return json_model.store_response(
        retrieve_url=f"{base}/studies/{first.study_uid}" if first else None,
        referenced=[
            json_model.referenced_item(s.sop_class_uid, s.sop_instance_uid, instance_url(s))
            for s in result.stored
        ],
        failed=[json_model.failed_item(f.sop_class_uid, f.sop_instance_uid, f.reason) for f in result.failed],
    )
