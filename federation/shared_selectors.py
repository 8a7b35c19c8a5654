"""What this node's patients share with a clinician of a peer node: the reads behind the node
API (`federation/node_api.py`).

Every answer rests on the one policy decision point, for purpose TREAT, through
`portal.access.authorize`, so it lands in the patient's access history as "Dr X at hospital
B". Nothing is decrypted here: a peer gets ciphertext, and data keys wrapped for its
clinician's public key (from the peer's signed directory) when the consent was granted.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import reverse

from imaging import blobs
from imaging.models import ObjectKind, Scan, ScanObject, ScanStatus
from imaging.storage import BlobCorrupted
from ledger.selectors import receipt_for_event
from ledger.services import origin
from portal.access import authorize
from portal.consent_selectors import patients_of
from portal.keys import wrap_context
from portal.models import AccessEvent, User, UserKeyPair, WrappedKey
from portal.policy import Decision

PURPOSE = "TREAT"  # a peer's clinician asks to treat the patient; nothing else is served
READ_ACTIONS = {"view", "download"}
CHUNK = 64 * 1024
# the consent action each object kind needs, as for a local reader (imaging/api_views.py)
ACTION_FOR_KIND = {ObjectKind.ORIGINAL: "download", ObjectKind.PREVIEW: "view", ObjectKind.MATRIX: "view"}


def _scan_summary(scan: Scan) -> dict:
    return {
        "id": str(scan.id),
        "modality": scan.modality,
        "body_part": scan.body_part,
        "source_format": scan.source_format,
        "study_date": scan.study_date.isoformat() if scan.study_date else None,
        "created_at": scan.created_at.isoformat(),
        "url": reverse("node-api-scan", args=[scan.id]),
    }


def _patient(patient: User) -> dict:
    return {"id": str(patient.pk), "display_name": patient.display_name()}


def shared_with(clinician: User) -> list[dict]:
    """The patients whose consent lets `clinician` see their scans for treatment, each with the
    finished scans the policy allows. One `list` decision is recorded per patient (a listing
    records one summary event, as locally); each scan is decided, not recorded."""
    out = []
    for patient, consents in patients_of(clinician).items():
        if not any(PURPOSE in c.purposes and READ_ACTIONS & set(c.actions) for c in consents):
            continue  # e.g. a research-only consent: not asked for, so no refusal to record
        if not authorize(actor=clinician, action="list", patient=patient, purpose=PURPOSE).allowed:
            continue
        scans = [
            _scan_summary(scan)
            for scan in Scan.objects.filter(patient=patient, status=ScanStatus.DONE).order_by("-created_at")
            if authorize(actor=clinician, action="view", scan=scan, purpose=PURPOSE, record=False).allowed
        ]
        if scans:
            out.append({"patient": _patient(patient), "scans": scans})
    return out


def scan_for_request(scan_id) -> Scan | None:
    try:
        pk = uuid.UUID(str(scan_id))
    except ValueError:
        return None
    return Scan.objects.select_related("patient").filter(pk=pk).first()


def object_for_request(object_id) -> ScanObject | None:
    try:
        pk = uuid.UUID(str(object_id))
    except ValueError:
        return None
    return ScanObject.objects.select_related("scan__patient").filter(pk=pk).first()


def decide_scan(clinician: User, scan: Scan, action: str = "view") -> Decision:
    """Decide and record one request on a scan (the access history's row; its ledger event id
    is `decision.event_id`)."""
    return authorize(actor=clinician, action=action, scan=scan, purpose=PURPOSE)


def _object_entry(obj: ScanObject, clinician: User, wrapped: bytes | None) -> dict:
    return {
        "object_id": str(obj.id),
        "kind": obj.kind,
        "version": obj.version,
        "cid": obj.cid,
        "ciphertext_sha256": obj.ciphertext_sha256,
        "size": obj.plaintext_size,
        "url": reverse("node-api-object", args=[obj.id]),
        "wrapped_key": base64.b64encode(wrapped).decode() if wrapped is not None else None,
        "wrap_context": wrap_context(obj.id, clinician).decode(),
    }


def scan_document(scan: Scan, clinician: User, decision: Decision) -> dict:
    """What a peer's clinician gets for a scan the policy let them view (`decision`): the scan,
    its patient, the diagnosis, each object they may fetch with its data key wrapped for them,
    the receipt of the scan's `scan.registered` ledger entry (with the openings of its
    commitments: the CIDs and ciphertext hashes to check the objects against) and the id of
    the `scan.accessed` event that recorded this request (its receipt: `access_receipt`)."""
    objects = list(ScanObject.objects.filter(scan=scan).order_by("kind", "-version"))
    wraps = dict(
        WrappedKey.objects.filter(reader=clinician, object_id__in=[o.id for o in objects]).values_list(
            "object_id", "wrapped"
        )
    )
    may_download = authorize(
        actor=clinician, action="download", scan=scan, purpose=PURPOSE, record=False
    ).allowed
    entries: dict[str, dict] = {}
    for obj in objects:
        if obj.kind in entries or (ACTION_FOR_KIND.get(obj.kind) == "download" and not may_download):
            continue
        wrapped = wraps.get(obj.id)
        entries[obj.kind] = _object_entry(obj, clinician, bytes(wrapped) if wrapped is not None else None)
    keypair = UserKeyPair.objects.filter(user=clinician).values_list("fingerprint", flat=True).first()
    registration = None
    if scan.ledger_event_id:
        registration = {
            "event_id": str(scan.ledger_event_id),
            "receipt": receipt_for_event(scan.ledger_event_id, with_openings=True),
        }
    diagnosis = None
    if scan.diagnosis_label:
        diagnosis = {
            "label": scan.diagnosis_label,
            "probability": scan.diagnosis_probability,
            "model_id": scan.model_id,
            "model_version": scan.model_version,
            "model_sha256": scan.model_sha256,
        }
    return {
        "origin": origin(),
        "scan": {**_scan_summary(scan), "width": scan.width, "height": scan.height, "frames": scan.frames},
        "patient": _patient(scan.patient),
        "diagnosis": diagnosis,
        "key_fingerprint": keypair,
        "original": entries.get(ObjectKind.ORIGINAL),
        "objects": entries,
        "registration": registration,
        "access": access_reference(decision.event_id),
    }


def access_reference(event_id: uuid.UUID | None) -> dict | None:
    if event_id is None:
        return None
    return {"event_id": str(event_id), "receipt_url": reverse("node-api-receipt", args=[event_id])}


@dataclass(frozen=True)
class Ciphertext:
    obj: ScanObject
    blob: bytes

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.blob).digest()

    def chunks(self) -> Iterator[bytes]:
        for start in range(0, len(self.blob), CHUNK):
            yield self.blob[start : start + CHUNK]


def ciphertext_of(obj: ScanObject) -> Ciphertext:
    """The stored ciphertext, checked against its recorded SHA-256 (BlobCorrupted otherwise):
    this node never hands on bytes its own records disown. Raises the storage errors."""
    blob = blobs.store().get(obj.cid)
    if hashlib.sha256(blob).hexdigest() != obj.ciphertext_sha256:
        raise BlobCorrupted("the stored ciphertext does not match its recorded SHA-256")
    return Ciphertext(obj=obj, blob=blob)


def own_access_receipt(clinician: User, event_id: uuid.UUID) -> tuple[bool, dict | None]:
    """(whether `event_id` is one of `clinician`'s own recorded accesses here, its receipt with
    openings or None until a checkpoint covers it)."""
    if not AccessEvent.objects.filter(actor=clinician, ledger_event_id=event_id).exists():
        return False, None
    return True, receipt_for_event(event_id, with_openings=True)
