"""Writes behind DIMSE: what happens to an instance a peer stores, and to a queued one that a
clinician attaches.

A received instance whose DICOM Patient ID the peer's organisation has linked to a patient
(`DicomPatientLink`) is stored exactly as a STOW-RS part is (`imaging.dicomweb.services.
instances_store`, so `imaging.services.scan_upload`: validation by content, encryption, the
hierarchy, key wraps, the pipeline and through it the ledger), by the organisation's DICOM node
identity, once the policy has allowed that identity to upload for the patient (the
organisation's consent, purpose TREAT; the decision is recorded like any other).

An instance that matches no patient is validated the same way and then waits in the
reconciliation queue (`PendingInstance`): sealed for the system key, attached to no one. Its
C-STORE still answers Success (0x0000): the sender's job is done, the instance is safe with us,
and what remains (whose it is) is a person's decision here, not the modality's. A clinician of
the organisation attaches it (`pending_attach`), choosing the patient: the attach runs the same
upload path as the clinician, links the Patient ID to that patient for the instances that
follow, and deletes the queued copy. Nothing is ever attached by a guess.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction

from imaging.dicom import dimse, json_model
from imaging.dicom.identity import InstanceIdentity, dicom_identity
from imaging.dicom.multipart import Part
from imaging.dicomweb.selectors import stored_instance
from imaging.dicomweb.services import instances_store
from imaging.dimse import matching, selectors, vault
from imaging.models import DicomPatientLink, DicomPeer, PendingInstance
from imaging.permissions import authorize, decision_message
from imaging.storage import StorageUnavailable
from imaging.validation import UploadRejected, inspect_upload, read_dicom_header
from portal.models import Organisation, Role, User

log = logging.getLogger(__name__)

DICOM = "application/dicom"
PURPOSE = "TREAT"  # what a modality or PACS stores and finds is for treating the patient

# Error Comments (no patient data) for the failures a stored instance can meet
COMMENTS = {
    json_model.CANNOT_UNDERSTAND: "Cannot understand: not a readable DICOM image",
    json_model.DATA_SET_DOES_NOT_MATCH: "Study UID disagrees with the stored series",
    json_model.DUPLICATE_SOP_INSTANCE: "SOP Instance UID already stored with other content",
    json_model.OUT_OF_RESOURCES: "Out of resources: too large, or storage unavailable",
    json_model.PROCESSING_FAILURE: "Processing failure",
}


@dataclass(frozen=True)
class Received:
    """The outcome of one C-STORE: its status, an Error Comment for a failure, and the queued
    instance when it waits for reconciliation."""

    status: int
    comment: str = ""
    pending_id: uuid.UUID | None = None


def node_identity(organisation: Organisation) -> User:
    """The organisation's DICOM node: the user its peers store and search as (role
    ``dicom_node``, no usable password, never logs in), made on first use."""
    user, _ = User.objects.get_or_create(
        username=f"dicom-node-{organisation.pk}",
        defaults={
            "role": Role.DICOM_NODE,
            "organisation": organisation,
            "first_name": "DICOM node",
            "last_name": organisation.name[:150],
            "password": make_password(None),
        },
    )
    if user.role != Role.DICOM_NODE or user.organisation_id != organisation.pk:
        raise RuntimeError("the DICOM node's user name is taken by another account")
    return user


def _status(exc: UploadRejected) -> int:
    if exc.status in (413, 503):
        return dimse.OUT_OF_RESOURCES
    if exc.status == 409:
        return dimse.DATA_SET_DOES_NOT_MATCH
    return dimse.CANNOT_UNDERSTAND


def _failed(reason: int) -> Received:
    return Received(reason, COMMENTS.get(reason, "Failed"))


def instance_receive(*, peer: DicomPeer, data: bytes) -> Received:
    """Store or queue one instance a peer sent (DICOM Part 10 bytes); never raises for bad data."""
    if len(data) > settings.QMC_MAX_UPLOAD_BYTES:
        return _failed(dimse.OUT_OF_RESOURCES)
    try:
        header = read_dicom_header(data)
        identity = dicom_identity(header)
    except UploadRejected:
        return _failed(dimse.CANNOT_UNDERSTAND)
    key = matching.key_of_dataset(organisation_id=peer.organisation_id, ds=header)
    patient = selectors.linked_patient(organisation_id=peer.organisation_id, patient_key=key)
    if patient is None:
        return _queue(peer=peer, data=data, patient_key=key, identity=identity)
    node = node_identity(peer.organisation)
    decision = authorize(actor=node, action="upload", patient=patient, purpose=PURPOSE)
    if not decision.allowed:
        return Received(dimse.NOT_AUTHORISED, "Refused: no consent to store for this patient")
    result = instances_store(actor=node, patient=patient, parts=[Part(data, {"content-type": DICOM})])
    if result.failed:
        return _failed(result.failed[0].reason)
    return Received(dimse.SUCCESS)


def _queue(*, peer: DicomPeer, data: bytes, patient_key: str, identity: InstanceIdentity) -> Received:
    """Validate like an upload, then seal into the reconciliation queue."""
    sha256 = hashlib.sha256(data).hexdigest()
    queued = PendingInstance.objects.filter(
        organisation_id=peer.organisation_id, sop_instance_uid=identity.sop_instance_uid
    ).first()
    if queued is not None:  # a resent instance: the same bytes are already waiting
        if queued.sha256 == sha256:
            return Received(dimse.SUCCESS, pending_id=queued.pk)
        return _failed(dimse.DUPLICATE_SOP_INSTANCE)
    try:
        inspect_upload(
            data,
            max_bytes=settings.QMC_MAX_UPLOAD_BYTES,
            max_pixels=settings.QMC_MAX_PIXELS,
            content_type=DICOM,
        )
    except UploadRejected as exc:
        return _failed(_status(exc))
    pending_id = uuid.uuid4()
    try:
        sealed = vault.seal(pending_id=pending_id, data=data)
    except StorageUnavailable:
        return _failed(dimse.OUT_OF_RESOURCES)
    try:
        with transaction.atomic():
            PendingInstance.objects.create(
                id=pending_id,
                organisation_id=peer.organisation_id,
                peer=peer,
                patient_key=patient_key,
                sop_instance_uid=identity.sop_instance_uid,
                modality=identity.modality,
                size=len(data),
                sha256=sha256,
                cid=sealed.cid,
                ciphertext_sha256=sealed.ciphertext_sha256,
                wrapped_key=sealed.wrapped_key,
            )
    except IntegrityError:  # the same instance, queued meanwhile by another association
        vault.delete_blob_quietly(sealed.cid)
        return _queue(peer=peer, data=data, patient_key=patient_key, identity=identity)
    log.info("DICOM instance from %s queued for reconciliation as %s", peer.ae_title, pending_id)
    return Received(dimse.SUCCESS, pending_id=pending_id)


# --- reconciliation


class AttachRefused(Exception):
    """The attach cannot be done; `message` is for the clinician, `status` the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class AttachResult:
    attached: list[uuid.UUID] = field(default_factory=list)  # the scans made (or found, for a resend)
    failed: list[str] = field(default_factory=list)  # an Error Comment per instance left in the queue


def pending_attach(*, clinician: User, pending_id: uuid.UUID, patient: Any) -> AttachResult:
    """Attach the queued instance `pending_id`, with the others of its DICOM patient, to
    `patient`, as `clinician` (of the organisation that received them), through the upload path;
    link the Patient ID to the patient. AttachRefused when the organisation has no such
    instance (404), the policy refuses the upload (its status), or the Patient ID is linked to
    another patient already (409). An instance the upload path refuses stays in the queue."""
    organisation_id = clinician.organisation_id
    group = selectors.pending_group(organisation_id=organisation_id, pending_id=pending_id)
    if clinician.role != Role.CLINICIAN or not group:
        raise AttachRefused("No such instance in your organisation's queue.", 404)
    decision = authorize(actor=clinician, action="upload", patient=patient, purpose=PURPOSE)
    if not decision.allowed:
        raise AttachRefused(decision_message(decision, "upload"), decision.status_code or 403)
    patient_key = group[0].patient_key
    if patient_key:
        linked = selectors.linked_patient(organisation_id=organisation_id, patient_key=patient_key)
        if linked is not None and linked.pk != patient.pk:
            raise AttachRefused(
                "This DICOM Patient ID is already linked to another patient of the portal; nothing was "
                "attached. Ask an administrator to check the link.",
                409,
            )
    result = AttachResult()
    for item in group:
        _attach_one(clinician=clinician, patient=patient, pending_id=item.pk, result=result)
    if patient_key and result.attached:
        DicomPatientLink.objects.get_or_create(
            organisation_id=organisation_id,
            patient_key=patient_key,
            defaults={"patient": patient, "created_by": clinician},
        )
    log.info(
        "%d queued DICOM instance(s) attached by %s, %d left",
        len(result.attached),
        clinician.pk,
        len(result.failed),
    )
    return result


def _attach_one(*, clinician: User, patient: Any, pending_id: uuid.UUID, result: AttachResult) -> None:
    # the row lock keeps two clinicians from attaching one instance twice; the blob I/O held
    # under it is one instance's
    with transaction.atomic():
        item = PendingInstance.objects.select_for_update().filter(pk=pending_id).first()
        if item is None:  # attached meanwhile by someone else
            return
        data = vault.open_bytes(item)
        stored = instances_store(
            actor=clinician, patient=patient, parts=[Part(data, {"content-type": DICOM})]
        )
        if stored.failed:
            result.failed.append(COMMENTS.get(stored.failed[0].reason, "Failed"))
            return
        scan = stored_instance(patient=patient, sop_uid=item.sop_instance_uid)
        cid = item.cid
        item.delete()
        transaction.on_commit(lambda: vault.delete_blob_quietly(cid))
    if scan is not None:
        result.attached.append(scan.pk)
