"""Writes of the imaging app: upload a scan, retry a failed one.

The request path does only this: validate by content, name the DICOM instance the upload is
(imaging.hierarchy), encrypt the original under a new data key, put the ciphertext in the blob
store, save ``Scan(queued)`` + its study/series + its ScanObject + the key wraps (system,
patient, current readers) in one transaction, and enqueue the
pipeline on commit. If anything after the blob write fails the blob is deleted again, so a
refused or failed upload leaves no Scan row and no blob.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crypto import envelope
from imaging import blobs, hierarchy
from imaging.models import Acquisition, ObjectKind, Scan, ScanObject, ScanStatus
from imaging.storage import StorageError, StorageUnavailable
from imaging.validation import UploadRejected, inspect_upload
from portal import keys
from portal.consent_selectors import ReaderReads

log = logging.getLogger(__name__)

_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]|(^|[/\\])\.\.|^[a-zA-Z]:")


def check_file_name(name: str | None) -> None:
    """File names are never used (not for paths, not stored); unsafe ones are refused outright."""
    if not name:
        return
    if len(name) > 255 or _UNSAFE_NAME.search(name) or name.strip(". ") == "":
        raise UploadRejected(
            "The file name is not acceptable (it contains path components or control characters). "
            "Rename the file and upload it again.",
            code="bad_file_name",
        )


def _read(file, max_bytes: int) -> bytes:
    if isinstance(file, bytes | bytearray | memoryview):
        return bytes(file)
    size = getattr(file, "size", None)
    if size is not None and size > max_bytes:
        raise UploadRejected(
            f"The file is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB.",
            status=413,
            code="too_large",
        )
    if hasattr(file, "seek"):
        file.seek(0)
    data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadRejected(
            f"The file is larger than the limit of {max_bytes / 1e6:.1f} MB.", status=413, code="too_large"
        )
    return data


GHOST_METHODS = ("gi", "dgi", "cs")
GHOST_RATIO_MIN = 0.05


def check_ghost(ghost: dict | None) -> dict:
    """Scan fields for the optional simulated ghost-imaging acquisition ({} when not asked).

    `ghost` = {"method": "gi" | "dgi" | "cs", "ratio": float in [0.05, 1]}."""
    if not ghost:
        return {}
    method = str(ghost.get("method", "cs")).lower()
    try:
        ratio = float(ghost.get("ratio", 0.3))
    except (TypeError, ValueError):
        ratio = float("nan")
    if method not in GHOST_METHODS:
        raise UploadRejected(
            f"Ghost-imaging method must be one of {', '.join(GHOST_METHODS)}.", code="bad_ghost_method"
        )
    if not GHOST_RATIO_MIN <= ratio <= 1.0:  # also refuses NaN
        raise UploadRejected(
            f"The ghost-imaging sampling ratio must be between {GHOST_RATIO_MIN} and 1.",
            code="bad_ghost_ratio",
        )
    return {"acquisition": Acquisition.GHOST, "ghost_method": method, "ghost_ratio": ratio}


def scan_upload(
    *,
    uploader,
    patient,
    file,
    content_type: str | None = None,
    file_name: str | None = None,
    ghost: dict | None = None,
    neqr_layer: bool = False,
) -> Scan:
    """Validate, encrypt and store an upload; returns the queued Scan. Raises UploadRejected.

    The caller has already authorised ``upload`` for ``patient`` (imaging.permissions).
    ``ghost`` (demo, off by default) asks the pipeline to re-acquire the image by SIMULATED
    ghost imaging before preprocessing (see `check_ghost`, `imaging.pipeline.ghost_acquire`);
    the original is stored unchanged. ``neqr_layer`` (demo, off by default) asks the pipeline
    to pass the derived objects (preview, matrix) through the SIMULATED NEQR image cipher
    (`imaging.neqr_layer`) under AES-256-GCM, which alone provides the confidentiality.
    """
    if getattr(patient, "role", None) != "patient":
        raise UploadRejected("Scans can only be uploaded for a patient.", code="not_a_patient")
    ghost_fields = check_ghost(ghost)
    check_file_name(file_name if file_name is not None else getattr(file, "name", None))
    if content_type is None:
        content_type = getattr(file, "content_type", None)
    data = _read(file, settings.QMC_MAX_UPLOAD_BYTES)
    insp, decoded = inspect_upload(
        data,
        max_bytes=settings.QMC_MAX_UPLOAD_BYTES,
        max_pixels=settings.QMC_MAX_PIXELS,
        content_type=content_type,
    )

    scan_id = uuid.uuid4()
    identity = hierarchy.identity_for_upload(data=data, fmt=insp.format, scan_id=scan_id)
    object_id = uuid.uuid4()
    key = envelope.new_data_key()
    ciphertext = envelope.encrypt(data, key, object_id=str(object_id), kind=ObjectKind.ORIGINAL, version=1)
    store = blobs.store()
    try:
        cid = store.put(ciphertext)
    except StorageUnavailable as exc:
        raise UploadRejected(
            "Storage is unavailable right now; nothing was saved. Please try again in a few minutes.",
            status=503,
            code="storage_unavailable",
        ) from exc
    scan = Scan(
        id=scan_id,
        patient=patient,
        uploaded_by=uploader,
        status=ScanStatus.QUEUED,
        source_format=insp.format,
        original_size=len(data),
        original_sha256=hashlib.sha256(data).hexdigest(),
        modality=decoded.modality,
        body_part=decoded.body_part,
        study_date=decoded.study_date,
        width=insp.width,
        height=insp.height,
        frames=insp.frames,
        **ghost_fields,
        neqr_layer=bool(neqr_layer),
        **hierarchy.instance_fields(identity),
    )
    original = ScanObject(
        id=object_id,
        scan=scan,
        kind=ObjectKind.ORIGINAL,
        version=1,
        cid=cid,
        ciphertext_sha256=hashlib.sha256(ciphertext).hexdigest(),
        plaintext_size=len(data),
        backend=store.name,
    )
    try:
        with transaction.atomic():
            scan.series = hierarchy.file_instance(patient_id=patient.pk, identity=identity)
            scan.save(force_insert=True)  # sets created_at, which consent scopes read
            original.save(force_insert=True)
            reads = ReaderReads(patient.pk, timezone.now(), keys=True)
            publics = readers_public_keys(scan=scan, reads=reads)
            transaction.on_commit(lambda: _enqueue(scan_id))
            keys.wrap_for_keys(patient_id=patient.pk, data_keys={object_id: key}, publics=publics)
    except BaseException:
        _delete_quietly(store, cid)
        raise
    return scan


def readers_public_keys(*, scan: Scan, reads) -> dict:
    """{reader id, None for the system: public key} of everyone who gets a wrap of the
    upload's original: the system, the patient and every current reader (consent and
    break-glass decide who). `reads` is `portal.consent_selectors.ReaderReads` with
    ``keys=True`` of the scan's patient; a reader's first key pair is made here."""
    readers = [None, scan.patient_id] + [r for r in reads.reader_ids(scan) if r != scan.patient_id]
    return keys.public_keys_of(readers, known=reads.public_keys())


def _enqueue(scan_id) -> None:
    from imaging.tasks import enqueue

    enqueue(scan_id)


def _delete_quietly(store, cid: str) -> None:
    try:
        store.delete(cid)
    except StorageError:
        log.error("could not delete blob %s after a failed upload; it is an orphan now", cid, exc_info=True)


def scan_retry(*, actor, scan: Scan) -> Scan:
    """Put a failed scan back in the queue. Finished steps (stored objects, staged
    ciphertext, wrapped keys) are kept and not redone."""
    with transaction.atomic():
        locked = Scan.objects.select_for_update().get(pk=scan.pk)
        if locked.status != ScanStatus.FAILED:
            raise UploadRejected("Only a failed scan can be retried.", status=409, code="not_failed")
        locked.status = ScanStatus.QUEUED
        locked.failure_reason = ""
        locked.attempts = 0
        locked.dispatched_at = timezone.now()  # the sweep leaves it to this message for a while
        locked.save(update_fields=["status", "failure_reason", "attempts", "dispatched_at", "updated_at"])
        transaction.on_commit(lambda: _enqueue(locked.pk))
    log.info("scan %s retried by %s", scan.pk, actor.pk)
    return locked
