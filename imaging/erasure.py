"""Erasure by crypto-shredding: a patient asks, an administrator decides.

Records may have to be kept by law (README, "Erasure"), so a request waits for an
administrator, who approves it or refuses it with a reason. On approval, in one transaction:

- every data-key wrap of the patient's objects is deleted (the system's, the patient's and
  every reader's), and the patient's own key pair: the only copies of the data keys are gone,
  so the ciphertexts cannot be decrypted by anyone, even with the database and the blobs;
- the patient's current consents are revoked (their `consent.revoked` events as usual);
- the openings of the patient's ledger entries are deleted (`ledger.forget`): the entries'
  commitments stay, and the log still verifies, but nobody can open them any more;
- the scan, object, study and series rows, DICOM links, lab runs on the scans and the
  patient's notifications are deleted; one `ErasedScan` per scan keeps the scan id and its
  `scan.registered` event id, so its URLs and receipts can say "erased";
- the account is tombstoned: no name, e-mail or password, inactive;
- a `patient.erased` event goes on the ledger: pseudonyms, the time and a hash of the erased
  scan ids (commitments only in the public entry).

After the commit the blobs are deleted from the store (unpinned on IPFS); a failure there
leaves ciphertext that no key opens.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid

from django.apps import apps
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.keyvault import pseudonym
from imaging import blobs
from imaging.models import DicomPatientLink, Scan, ScanObject, Series, StagedObject, Study
from ledger.forget import openings_forget
from ledger.services import record_event
from portal.models import (
    AccessEvent,
    Consent,
    ConsentStatus,
    ErasedScan,
    ErasureRequest,
    ErasureStatus,
    Notification,
    Role,
    User,
    UserKeyPair,
    WrappedKey,
)

log = logging.getLogger(__name__)


class ErasureError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def erasure_request(*, patient: User) -> ErasureRequest:
    """The patient's request (one pending at a time; asking again returns the pending one)."""
    if patient.role != Role.PATIENT:
        raise ErasureError("Only a patient can ask for their records to be erased.", 403)
    with transaction.atomic():
        pending = ErasureRequest.objects.filter(patient=patient, status=ErasureStatus.PENDING).first()
        if pending:
            return pending
        request = ErasureRequest.objects.create(patient=patient)
    log.info("erasure %s requested", request.pk)
    return request


def erasure_cancel(*, patient: User, request: ErasureRequest) -> ErasureRequest:
    with transaction.atomic():
        row = ErasureRequest.objects.select_for_update().get(pk=request.pk)
        if row.patient_id != patient.pk:
            raise ErasureError("No such request.", 404)
        if row.status != ErasureStatus.PENDING:
            raise ErasureError("This request has already been decided.", 409)
        row.status, row.decided_at = ErasureStatus.CANCELLED, timezone.now()
        row.save(update_fields=["status", "decided_at"])
    return row


def erasure_reject(*, actor: User, request: ErasureRequest, note: str) -> ErasureRequest:
    """Refuse (e.g. a legal retention period applies); `note` says why, for the patient."""
    note = (note or "").strip()
    if not note:
        raise ErasureError("Say why the request is refused (for example the retention period that applies).")
    with transaction.atomic():
        row = _pending_for_update(actor, request)
        row.status, row.decided_at, row.decided_by, row.note = (
            ErasureStatus.REJECTED,
            timezone.now(),
            actor,
            note[:300],
        )
        row.save(update_fields=["status", "decided_at", "decided_by", "note"])
    log.info("erasure %s refused", row.pk)
    return row


def _pending_for_update(actor: User, request: ErasureRequest) -> ErasureRequest:
    if actor.role != Role.ADMIN:
        raise ErasureError("Only an administrator decides erasure requests.", 403)
    row = ErasureRequest.objects.select_for_update().get(pk=request.pk)
    if row.status != ErasureStatus.PENDING:
        raise ErasureError("This request has already been decided.", 409)
    return row


def erasure_approve(*, actor: User, request: ErasureRequest) -> ErasureRequest:
    """Crypto-shred the patient's scans and tombstone the account (see the module doc)."""
    with transaction.atomic():
        row = _pending_for_update(actor, request)
        patient = User.objects.select_for_update().get(pk=row.patient_id)
        cids = _erase(actor=actor, erasure=row, patient=patient)
    store = blobs.store()
    for cid in cids:  # slow I/O after the commit: without their keys the blobs are noise already
        try:
            store.delete(cid)
        except Exception:  # noqa: BLE001 - logged; a leftover blob has no key left to open it
            log.warning("erasure %s: a blob could not be deleted from the store", row.pk)
    log.info("erasure %s done: %d scans, %d blobs", row.pk, row.scans_erased, len(cids))
    return ErasureRequest.objects.get(pk=row.pk)


def _erase(*, actor: User, erasure: ErasureRequest, patient: User) -> list[str]:
    from portal.consent_services import consent_revoke

    now = timezone.now()
    scans = list(Scan.objects.filter(patient=patient).values_list("id", "ledger_event_id"))
    scan_ids = [s for s, _ in scans]
    objects = list(ScanObject.objects.filter(scan_id__in=scan_ids).values_list("id", "cid"))
    staged = list(StagedObject.objects.filter(scan_id__in=scan_ids).values_list("id", "cid"))
    object_ids = [o for o, _ in objects + staged]
    cids = sorted({c for _, c in objects + staged if c})

    for consent in Consent.objects.filter(patient=patient, is_current=True, status=ConsentStatus.ACTIVE):
        consent_revoke(actor=patient, consent=consent)

    # the data keys: every wrap of every object, then the patient's own private key
    WrappedKey.objects.filter(Q(patient=patient) | Q(object_id__in=object_ids)).delete()
    UserKeyPair.objects.filter(user=patient).delete()

    access_events = AccessEvent.objects.filter(patient=patient).exclude(ledger_event_id=None)
    openings_forget(
        subject=pseudonym("patient", patient.pk),
        event_ids=[e for _, e in scans] + list(access_events.values_list("ledger_event_id", flat=True)),
    )

    ErasedScan.objects.bulk_create(
        [ErasedScan(scan_id=s, erasure=erasure, ledger_event_id=e) for s, e in scans]
    )
    lab_run = apps.get_model("lab", "LabRun")
    lab_run.objects.filter(params__scan_id__in=[str(s) for s in scan_ids]).delete()
    StagedObject.objects.filter(scan_id__in=scan_ids).delete()
    ScanObject.objects.filter(scan_id__in=scan_ids).delete()
    series = list(
        Scan.objects.filter(pk__in=scan_ids).exclude(series=None).values_list("series_id", flat=True)
    )
    Scan.objects.filter(pk__in=scan_ids).delete()
    Series.objects.filter(pk__in=series, instances__isnull=True).delete()
    for study in Study.objects.filter(patient=patient):
        if not Series.objects.filter(study=study).exists():
            study.delete()
    DicomPatientLink.objects.filter(patient=patient).delete()
    Notification.objects.filter(user=patient).delete()

    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.filter(user=patient).delete()
    patient.username = f"erased-{uuid.uuid4().hex[:16]}"
    patient.first_name = patient.last_name = patient.email = ""
    patient.is_active = False
    patient.set_unusable_password()
    patient.save()

    manifest = hashlib.sha256(json.dumps(sorted(str(s) for s in scan_ids)).encode()).hexdigest()
    event_id = record_event(
        event_type="patient.erased",
        payload={
            "patient": pseudonym("patient", patient.pk),
            "actor": pseudonym("user", actor.pk),
            "at": now,
            "request_id": erasure.pk,
            "manifest_sha256": manifest,
            "status": "erased",
        },
    )
    erasure.status, erasure.decided_at, erasure.decided_by = ErasureStatus.DONE, now, actor
    erasure.scans_erased, erasure.ledger_event_id = len(scan_ids), event_id
    erasure.save(update_fields=["status", "decided_at", "decided_by", "scans_erased", "ledger_event_id"])
    return cids


def erased_scan(scan_id) -> ErasedScan | None:
    """The tombstone of `scan_id` if it was erased."""
    try:
        return ErasedScan.objects.filter(pk=uuid.UUID(str(scan_id))).first()
    except ValueError:
        return None
