"""Writes of the imaging app: upload a scan, retry a failed one.

The request path does only this: validate by content, encrypt the original under a new
data key, put the ciphertext in the blob store, save ``Scan(queued)`` + its ScanObject +
the key wraps (system, patient, current readers) in one transaction, and enqueue the
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

from imaging import blobs
from imaging.crypto import envelope
from imaging.models import Acquisition, ObjectKind, Scan, ScanObject, ScanStatus
from imaging.pipeline import readers_public_keys
from imaging.storage import StorageError, StorageUnavailable
from imaging.validation import UploadRejected, inspect_upload
from portal import db_batch, keys
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
        # three round trips on PostgreSQL: BEGIN; the two rows with the reads that decide
        # who else gets a key wrap; the wraps with the COMMIT
        with transaction.atomic():
            with db_batch.batch():
                db_batch.insert(Scan, [scan])  # sets created_at, which consent scopes read
                db_batch.insert(ScanObject, [original])
                reads = ReaderReads(patient.pk, timezone.now(), keys=True)
            publics = readers_public_keys(scan=scan, reads=reads)
            transaction.on_commit(lambda: _enqueue(scan_id))
            with db_batch.last_batch():
                keys.wrap_for_keys(patient_id=patient.pk, data_keys={object_id: key}, publics=publics)
    except BaseException:
        _delete_quietly(store, cid)
        raise
    return scan


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


# ---------------------------------------------------------------- model registry
#
# The registry holds the committed artifacts of ``imaging.ml`` (classical, qcnn). They are
# registered LAZILY: the first diagnosis (or the first visit of the models page) on a
# database without an active model for the task calls `model_register_builtin()`, which
# registers both artifacts (their SHA-256 re-computed from the bytes and checked against
# the model cards) and activates the classical model. No data migration, because the
# activation appends a ledger event, which needs the live ledger models and keys.

TASK = "pneumonia"
DEFAULT_KIND = "classical"
_ALGORITHMS = {"classical": "hog-pca-svm-platt", "qcnn": "qcnn8-statevector-hybrid"}


class ModelRegistryError(Exception):
    """A committed artifact does not match what is registered (or cannot be read)."""


def _read_builtin(kind: str) -> tuple[dict, str, str]:
    """(card, sha256, markdown) of a committed artifact; its SHA-256 is verified."""
    from imaging.ml.artifacts import ARTIFACT_DIR, read_artifact

    try:
        _, card, digest = read_artifact(kind)
        markdown = (ARTIFACT_DIR / f"{kind}.md").read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise ModelRegistryError(f"The {kind} model artifact cannot be used: {exc}") from exc
    return card, digest, markdown


def model_register_builtin(*, task: str = TASK):
    """Register both committed models (idempotent) and activate the classical one when the
    task has no active model. Returns the registered rows."""
    from django.db import IntegrityError

    from imaging.ml.api import KINDS
    from imaging.models import DiagnosisModel

    rows = []
    for kind in KINDS:
        card, digest, markdown = _read_builtin(kind)
        val = card.get("validation") or {}
        defaults = {
            "kind": kind,
            "sha256": digest,
            "artifact": card.get("artifact", f"{kind}.npz"),
            "card_path": f"{kind}.md",
            "card_text": markdown,
            "threshold": card.get("threshold"),
            "metrics": {
                k: val[k] for k in ("auc", "acc", "sensitivity", "specificity", "n", "ci95") if k in val
            },
        }
        lookup = {"task": task, "model_id": str(card["model_id"]), "version": str(card["version"])}
        try:
            with transaction.atomic():
                row, _ = DiagnosisModel.objects.get_or_create(**lookup, defaults=defaults)
        except IntegrityError:  # registered concurrently by another process
            row = DiagnosisModel.objects.get(**lookup)
        if row.sha256 != digest:
            raise ModelRegistryError(
                f"The artifact of {row.model_id} v{row.version} has SHA-256 {digest}, but "
                f"{row.sha256} is registered: a changed model needs a new version."
            )
        rows.append(row)
    if not DiagnosisModel.objects.filter(task=task, is_active=True).exists():
        default = next(r for r in rows if r.kind == DEFAULT_KIND)
        _activate(actor=None, model=default, reason="default")
    return rows


def model_ensure_active(*, task: str = TASK):
    """The active model of `task`, registering the built-in models first if there is none."""
    from imaging.models import DiagnosisModel

    row = DiagnosisModel.objects.filter(task=task, is_active=True).first()
    if row is None:
        model_register_builtin(task=task)
        row = DiagnosisModel.objects.get(task=task, is_active=True)
    return row


def is_model_admin(user) -> bool:
    return bool(
        user is not None and user.is_authenticated and user.is_active and getattr(user, "role", "") == "admin"
    )


def model_activate(*, actor, model):
    """Make `model` the active model of its task (administrators only).

    One transaction: lock every model row of the task, re-verify the artifact's SHA-256,
    deactivate the old one, activate the new one and append ``model.registered`` to the
    ledger. Raises PermissionDenied for anyone but an administrator.
    """
    from django.core.exceptions import PermissionDenied

    if not is_model_admin(actor):
        raise PermissionDenied("Only an administrator can switch the active diagnosis model.")
    return _activate(actor=actor, model=model, reason="activated")


def _activate(*, actor, model, reason: str):
    from django.utils import timezone

    from imaging.models import DiagnosisModel
    from ledger.services import record_event
    from portal.keyvault import pseudonym

    with transaction.atomic():
        rows = list(DiagnosisModel.objects.select_for_update().filter(task=model.task).order_by("pk"))
        target = next((r for r in rows if r.pk == model.pk), None)
        if target is None:
            raise ModelRegistryError("That model is not registered.")
        old = [r for r in rows if r.is_active and r.pk != target.pk]
        if target.is_active and not old:
            return target  # already active: nothing to record
        _, digest, _ = _read_builtin(target.kind)
        if digest != target.sha256:
            raise ModelRegistryError(
                f"The artifact of {target.model_id} no longer matches its registered SHA-256; not activated."
            )
        DiagnosisModel.objects.filter(pk__in=[r.pk for r in old]).update(is_active=False)
        payload = {
            "model_id": target.model_id.lower()[:48],
            "model_sha256": target.sha256,
            "version": target.version.lower(),
            "kind": target.kind,
            "algorithm": _ALGORITHMS.get(target.kind, target.kind),
            "format": "npz",
            "role": getattr(actor, "role", "system") if actor else "system",
            "reason": reason,
        }
        if actor is not None:
            payload["actor"] = pseudonym("user", actor.pk)
        for src, dst in (("auc", "auc"), ("acc", "accuracy")):
            if isinstance(target.metrics.get(src), int | float):
                payload[dst] = round(float(target.metrics[src]), 6)
        target.is_active = True
        target.activated_at = timezone.now()
        target.ledger_event_id = record_event(event_type="model.registered", payload=payload)
        target.save(update_fields=["is_active", "activated_at", "ledger_event_id"])
    log.info(
        "diagnosis model %s v%s activated for %s by %s",
        target.model_id,
        target.version,
        target.task,
        actor.pk if actor else "system",
    )
    return target
