"""The scan pipeline's steps (run by `imaging.tasks.process_scan`).

queued -> preprocessing -> diagnosing -> encrypting -> storing -> recording -> done
(or failed with a reason). Each step is idempotent and keyed by the scan id; a task that is
delivered again (worker killed, retry, duplicate message) finds the finished work in the
database and does only what is missing:

* every status change is one conditional UPDATE (forward only, never out of ``failed``)
  that returns the status the row then has; staging and recording each run in one
  transaction whose status UPDATE holds the scan's row lock until the commit, so two
  deliveries never both do a step (``recording`` is the transaction that marks the scan
  ``done``, so it is never committed as a status of its own; a delivery counts itself with
  the first UPDATE, which returns the scan);
* decode / preprocess / diagnose are pure and deterministic; a redelivery recomputes them
  and checks the pixel SHA-256 against the one already recorded;
* **encrypting** writes each derived object's ciphertext to `StagedObject` and wraps its
  data key (system, patient, current readers) in one transaction. Object ids are derived
  from (scan id, kind, version), and a data key is only generated when none is wrapped yet;
* **storing** puts the staged ciphertext in the blob store (``put`` of the same bytes
  returns the same CID, and only the delivery holding the claim puts or re-stages, so a
  redelivery cannot orphan a blob) and, in one transaction, creates the ScanObject and
  deletes the staged row;
* **recording** marks the scan done and, in the same transaction, creates its ScanObjects
  and calls ``ledger.services.record_event`` with an event id derived from the scan id.

A delivery works only on a scan it has claimed (`imaging.leases`): the UPDATE that counts
it also records its claim token and worker process, and every later status UPDATE is
conditional on that token. A copy of the message that arrives while another delivery
holds the scan writes nothing; a delivery whose claim was taken over (its worker seemed
dead) stops with `ClaimLost` and deletes the blobs it put that no row names.

``Scan.attempts`` counts deliveries that claimed the scan; more than ``MAX_ATTEMPTS`` marks
the scan failed (poison-message guard). For the reliability tests ``QMC_TEST_STAGE_DELAY`` (e.g.
``storing=5,stored=3``) makes the worker sleep at a stage so it can be killed there.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from imaging import blobs, diagnosis, preprocess
from imaging.crypto import envelope
from imaging.decode import DecodedImage, DecodeError, decode
from imaging.models import Acquisition, ObjectKind, Scan, ScanObject, ScanStatus, StagedObject
from imaging.storage import BlobCorrupted, BlobNotFound, StorageUnavailable
from portal import db_batch

log = logging.getLogger(__name__)

NAMESPACE = uuid.UUID("6b1d51a4-3f7e-4f0e-9d4e-7d0f0a3c5e21")
DERIVED_KINDS = (ObjectKind.PREVIEW, ObjectKind.MATRIX)
STEP_INDEX = {
    s: i
    for i, s in enumerate(
        ["queued", "preprocessing", "diagnosing", "encrypting", "storing", "recording", "done"]
    )
}
MAX_RETRIES = int(os.environ.get("QMC_SCAN_MAX_RETRIES", "5"))
MAX_ATTEMPTS = int(os.environ.get("QMC_SCAN_MAX_ATTEMPTS", str(MAX_RETRIES + 4)))


class PipelineFailure(Exception):
    """A permanent failure: the scan becomes `failed` with this message (no retry)."""


class ClaimLost(Exception):
    """Another delivery holds the scan now (this one's worker was taken for dead): this
    delivery stops without writing anything more."""


def derived_object_id(scan_id, kind: str, version: int = 1) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{scan_id}/{kind}/{version}")


def ledger_event_id(scan_id) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"scan.registered/{scan_id}")


def _stage_delay(point: str) -> None:
    spec = os.environ.get("QMC_TEST_STAGE_DELAY", "")
    for item in spec.split(","):
        name, _, seconds = item.partition("=")
        if name.strip() == point and seconds:
            time.sleep(float(seconds))


def _before(status: str, target: str) -> bool:
    return STEP_INDEX.get(status, 99) < STEP_INDEX[target]


@functools.lru_cache(maxsize=64)
def _advance_sql(
    target: str, names: tuple[str, ...], unless_there: bool, fenced: bool = False
) -> tuple[str, list]:
    """(SQL, leading params) of `_advance`'s UPDATE for these field names. Written once per
    shape because building and compiling the ORM's Case/When UPDATE cost ~0.5 ms, five
    times per scan; plain SQL that PostgreSQL and SQLite (3.35+, for RETURNING) accept."""
    q = connection.ops.quote_name
    opts = Scan._meta
    earlier = [s for s, i in STEP_INDEX.items() if i < STEP_INDEX[target]]
    sets = ", ".join(f"{q(opts.get_field(n).column)} = %s" for n in (*names, "updated_at"))
    status = q("status")
    fence = f"AND {q('claim')} = %s " if fenced else ""  # only while this delivery holds the claim
    # only quoted names from the model and %s placeholders are formatted in (bandit B608)
    sql = (
        f"UPDATE {q(opts.db_table)} SET {sets}, {status} = CASE WHEN {status} IN "  # nosec B608
        f"({', '.join(['%s'] * len(earlier))}) THEN %s ELSE {status} END "
        f"WHERE {q(opts.pk.column)} = %s AND {status} NOT IN ({'%s, %s' if unless_there else '%s'}) "
        f"{fence}RETURNING {status}"
    )
    return sql, [*earlier, target]


def _send_advance(scan: Scan, target: str, *, unless_there: bool = False, **fields):
    """Send `_advance`'s UPDATE (in the caller's database batch, if any) and return a function
    that, called after the batch, mirrors its outcome on `scan` and returns what `_advance`
    returns (or raises what it raises)."""
    now = timezone.now()
    names = tuple(sorted(fields))
    token = scan.claim  # set by `run`'s claim; None for a scan loaded elsewhere (unfenced)
    sql, status_params = _advance_sql(target, names, unless_there, token is not None)
    opts = Scan._meta
    values = [
        opts.get_field(n).get_db_prep_save(v, connection)
        for n, v in [*((n, fields[n]) for n in names), ("updated_at", now)]
    ]
    pk = opts.pk.get_db_prep_value(scan.pk, connection)
    excluded = [ScanStatus.FAILED.value, *([target] if unless_there else [])]
    fence = [] if token is None else [opts.get_field("claim").get_db_prep_save(token, connection)]
    sent = db_batch.send(sql, [*values, *status_params, pk, *excluded, *fence])

    def outcome() -> bool:
        row = sent.row()
        if row is None:
            status, reason, claim = Scan.objects.filter(pk=scan.pk).values_list(
                "status", "failure_reason", "claim"
            ).first() or (None, "", None)
            if unless_there and status == target:
                scan.status = status
                return False
            if token is not None and status not in (ScanStatus.FAILED, None) and claim != token:
                raise ClaimLost(f"scan {scan.pk} is held by another delivery now")
            raise PipelineFailure(reason or "the scan was marked failed")
        for k, v in fields.items():
            setattr(scan, k, v)
        scan.updated_at = now
        scan.status = row[0]  # `target`, or a later status a concurrent delivery reached
        return True

    return outcome


def _advance(scan: Scan, target: str, *, unless_there: bool = False, **fields) -> bool:
    """Set `fields` and move the status forward to `target` (never back, never out of
    `failed`) in ONE conditional UPDATE -- atomic in the database without a transaction or
    row lock -- and mirror the change, and the status the row now has, on `scan`.

    `unless_there`: change nothing if the scan is at `target` already, and return False
    (True otherwise). PipelineFailure if the scan was marked failed."""
    with db_batch.batch():
        outcome = _send_advance(scan, target, unless_there=unless_there, **fields)
    return outcome()


def mark_failed(scan_id, reason: str) -> None:
    changed = (
        Scan.objects.filter(pk=scan_id)
        .exclude(status=ScanStatus.DONE)
        .update(
            status=ScanStatus.FAILED,
            failure_reason=reason[:300],
            updated_at=timezone.now(),
            claim=None,
            claimed_by="",
        )
    )
    if changed:
        log.info("scan %s failed: %s", scan_id, reason)


def readers_public_keys(*, scan: Scan, reads) -> dict:
    """{reader id, None for the system: public key} of everyone who gets a wrap of a new
    object of the scan: the system, the patient and every current reader (consent and
    break-glass decide who). `reads` is `portal.consent_selectors.ReaderReads` with
    ``keys=True`` of the scan's patient, sent in the caller's database batch; a reader's
    first key pair is made here."""
    from portal import keys as key_service

    readers = [None, scan.patient_id] + [r for r in reads.reader_ids(scan) if r != scan.patient_id]
    return key_service.public_keys_of(readers, known=reads.public_keys())


def _unwrap_and_decrypt(obj: ScanObject, *, reader, store) -> tuple[bytes, bytes]:
    """(data key, plaintext) of one stored object: key unwrapped for `reader` (with the
    wrap read along with `obj` when it was, see `_original`), blob fetched, its SHA-256
    checked, AES-256-GCM decrypted."""
    from portal.keys import unwrap_columns, unwrap_for

    if hasattr(obj, "wrapped"):
        key = unwrap_columns(
            object_id=obj.id,
            reader=reader,
            wrapped=obj.wrapped,
            sealed=obj.sealed,
            fingerprint=obj.fingerprint,
        )
    else:
        key = unwrap_for(object_id=obj.id, reader=reader)
    blob = (store or blobs.store()).get(obj.cid)
    if hashlib.sha256(blob).hexdigest() != obj.ciphertext_sha256:
        raise BlobCorrupted(f"ciphertext of {obj.kind} does not match its recorded SHA-256")
    return key, envelope.decrypt(blob, key, object_id=str(obj.id), kind=obj.kind, version=obj.version)


def decrypt_object(obj: ScanObject, *, reader=None, store=None) -> bytes:
    """Fetch one stored object, check its ciphertext SHA-256 and AES-256-GCM-decrypt it with
    the key wrapped for `reader` (a simulated NEQR layer, if any, is still on)."""
    return _unwrap_and_decrypt(obj, reader=reader, store=store)[1]


def read_object(obj: ScanObject, *, reader=None, store=None) -> bytes:
    """`decrypt_object`, then derived objects of a scan uploaded with the simulated NEQR
    layer come back with the layer removed, so callers always get the PNG / canonical
    matrix bytes."""
    key, plaintext = _unwrap_and_decrypt(obj, reader=reader, store=store)
    if obj.kind in DERIVED_KINDS:
        from imaging import neqr_layer

        if neqr_layer.is_layered(plaintext):
            plaintext = neqr_layer.open(plaintext, key, object_id=str(obj.id))
    return plaintext


def _layered(scan: Scan, kind: str, object_id, plaintext: bytes, key: bytes) -> bytes:
    """The optional SIMULATED NEQR layer, applied under AES-256-GCM (never instead of it)."""
    if not scan.neqr_layer:
        return plaintext
    from imaging import neqr_layer

    return neqr_layer.apply(kind, plaintext, key, object_id=str(object_id))


QWALK_PREFIX = b"QMC-QWALK-v1"
QWALK_GRID = 32


def qwalk_message(matrix, pixel_sha256: str) -> bytes:
    """Exactly what the secondary quantum-walk fingerprint hashes (1,068 bytes).

    ``b"QMC-QWALK-v1"`` (12 bytes) || SHA-256 of the canonical matrix bytes (the 32 raw
    digest bytes of ``pixel_sha256``) || a 32 x 32 downsample of the 128 x 128 matrix: the
    mean of each 4 x 4 block (float64), times 255, rounded half-to-even, as uint8, row-major
    (1,024 bytes). Hashing the whole 65,536-byte matrix would take ~0.26 s per scan with the
    simulated walk (one 66 x 66 mat-vec per byte); this message takes ~4 ms and still binds
    every pixel through the SHA-256 digest.
    """
    import numpy as np

    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (preprocess.SIZE, preprocess.SIZE):
        raise ValueError(f"matrix must be {preprocess.SIZE}x{preprocess.SIZE}, got {m.shape}")
    k = preprocess.SIZE // QWALK_GRID
    small = m.reshape(QWALK_GRID, k, QWALK_GRID, k).mean(axis=(1, 3))
    grid = np.round(np.clip(small, 0.0, 1.0) * 255.0).astype(np.uint8)
    return QWALK_PREFIX + bytes.fromhex(pixel_sha256) + grid.tobytes(order="C")


def qwalk_fingerprint(matrix, pixel_sha256: str) -> str:
    """Simulated quantum-walk hash (secondary fingerprint; SHA-256 stays primary), 64 hex."""
    from quantum.qwalk_hash import qwalk_hexdigest

    return qwalk_hexdigest(qwalk_message(matrix, pixel_sha256))


GHOST_SIZE = 64


@dataclass(frozen=True)
class GhostResult:
    image: object  # np.ndarray GHOST_SIZE x GHOST_SIZE float32 in [0, 1], 8-bit levels
    psnr: float
    ssim: float
    measurements: int


def ghost_seed(scan_id) -> int:
    return uuid.UUID(str(scan_id)).int >> 64


def ghost_acquire(display, *, method: str, ratio: float, seed: int) -> GhostResult:
    """Re-acquire `display` by SIMULATED computational ghost imaging (``quantum.ghost``).

    The decoded image is resized to 64 x 64 (the simulated object), measured with
    round(ratio * 4096) random binary patterns and a bucket detector, reconstructed with
    `method`, and quantised to 8 bits (so a redelivered task reproduces the same pixels).
    PSNR / SSIM compare the 8-bit reconstruction with the 64 x 64 original. Deterministic
    for a given seed (derived from the scan id). 64 x 64 because the pattern matrix of a
    128 x 128 object at ratio 1 alone would take 1 GiB and CS ~16x longer.
    """
    import numpy as np

    from quantum import ghost

    ref = ghost.prepare_image(np.asarray(display, dtype=np.float64), GHOST_SIZE)
    out = ghost.acquire_and_reconstruct(ref, ratio=ratio, method=method, seed=seed)
    rec = ghost.to_uint8(out["reconstruction"]).astype(np.float64) / 255.0
    psnr, ssim = ghost.metrics(ref, rec)
    return GhostResult(
        image=rec.astype(np.float32),
        psnr=round(psnr, 3),
        ssim=round(ssim, 4),
        measurements=out["measurements"],
    )


@dataclass
class Derived:
    decoded: DecodedImage
    matrix: object  # np.ndarray 128x128 float32
    pixel_sha256: str
    ghost: GhostResult | None = None
    preview: Future | None = None  # the preview PNG, encoded meanwhile by a thread


def _render_preview_meanwhile(display) -> Future:
    """Encode the preview PNG on this process's preview thread while the caller goes on
    (OpenCV releases the GIL: the ~2-8 ms encode overlaps the diagnosis and the status
    updates)."""
    from portal.threads import pool

    return pool("scan-preview", 1).submit(preprocess.render_preview, display)


ORIGINAL_COLUMNS = ("id", "kind", "version", "cid", "ciphertext_sha256", "backend")


def _original_query(scan_id):
    from django.db.models import OuterRef

    from portal.keys import wrap_columns

    return (
        ScanObject.objects.filter(scan_id=scan_id, kind=ObjectKind.ORIGINAL)
        .annotate(**wrap_columns(reader=None, object_ref=OuterRef("id")))
        .values_list(*ORIGINAL_COLUMNS, "wrapped", "sealed", "fingerprint")
    )


def _derived_readers_query(scan_id):
    """The keys `_wrap_derived` wraps for: whoever holds the original's key (the system, the
    patient and the scan's current readers: consent changes keep the original's wraps
    current)."""
    from portal.keys import holder_keys_query

    original = ScanObject.objects.filter(scan_id=scan_id, kind=ObjectKind.ORIGINAL).values("id")
    return holder_keys_query(source=original)


# the pipeline's reads, compiled once per process (see db_batch.Template)
_ORIGINAL = db_batch.Template(_original_query)
_DERIVED_READERS = db_batch.Template(_derived_readers_query)
_ACTIVE_MODEL = db_batch.Template(lambda: diagnosis.active_query())
_KINDS = db_batch.Template(  # kinds already stored or staged
    lambda scan_id: (
        ScanObject.objects.filter(scan_id=scan_id)
        .values_list("kind")
        .union(StagedObject.objects.filter(scan_id=scan_id).values_list("kind"))
    )
)
_OBJECTS = db_batch.Template(
    lambda scan_id: ScanObject.objects.filter(scan_id=scan_id).values_list(*OBJECT_COLUMNS)
)


def _send_original(scan_id):
    """Send the read of the scan's original with its data key wrapped for the system (one
    query); the returned function, called after the batch, gives the ScanObject (with the
    `wrap_columns` as attributes) or raises PipelineFailure if there is none."""
    sent = _ORIGINAL.send(scan_id=scan_id)

    def original() -> ScanObject:
        rows = sent.rows()
        if len(rows) != 1:
            raise PipelineFailure("The scan's stored original is missing; it must be uploaded again.")
        *values, wrapped, sealed, fingerprint = rows[0]
        obj = ScanObject(scan_id=scan_id, **dict(zip(ORIGINAL_COLUMNS, values, strict=True)))
        obj.wrapped, obj.sealed, obj.fingerprint = wrapped, sealed, fingerprint
        return obj

    return original


def _compute(scan: Scan, store, original: ScanObject | None = None) -> Derived:
    if original is None:
        with db_batch.batch():
            read = _send_original(scan.pk)
        original = read()
    try:
        data = read_object(original, reader=None, store=store)
    except (BlobCorrupted, BlobNotFound) as exc:
        raise PipelineFailure(
            "The stored original failed its integrity check (damaged or missing in storage); "
            "it must be uploaded again."
        ) from exc
    except envelope.IntegrityError as exc:
        raise PipelineFailure(
            f"The stored original does not decrypt (integrity error in chunk {exc.chunk_index}); "
            "it must be uploaded again."
        ) from exc
    try:
        decoded = decode(data, scan.source_format)
    except DecodeError as exc:
        raise PipelineFailure(f"The image could not be decoded: {exc}") from exc
    ghost = None
    if scan.acquisition == Acquisition.GHOST:
        try:
            ghost = ghost_acquire(
                decoded.display, method=scan.ghost_method, ratio=scan.ghost_ratio, seed=ghost_seed(scan.id)
            )
        except Exception as exc:  # noqa: BLE001 - QuantumParamError or numerical trouble
            raise PipelineFailure(f"The simulated ghost-imaging acquisition failed: {exc}") from exc
        decoded = dataclasses.replace(decoded, display=ghost.image)
    preview = _render_preview_meanwhile(decoded.display)
    matrix = preprocess.preprocess(decoded.display)
    return Derived(
        decoded=decoded,
        matrix=matrix,
        pixel_sha256=preprocess.pixel_sha256(matrix),
        ghost=ghost,
        preview=preview,
    )


@functools.lru_cache(maxsize=1)
def _count_delivery_sql() -> tuple[str, list]:
    from imaging.models import ScanWorker

    q = connection.ops.quote_name
    opts = Scan._meta
    status, claimed_by = q("status"), q("claimed_by")
    columns = ", ".join(q(f.column) for f in opts.concrete_fields)
    # only quoted names from the model and %s placeholders are formatted in (bandit B608)
    sql = (
        f"UPDATE {q(opts.db_table)} SET {q('attempts')} = {q('attempts')} + 1, {q('updated_at')} = %s, "  # nosec B608
        f"{q('claim')} = %s, {claimed_by} = %s, "
        f"{status} = CASE WHEN {status} = %s THEN %s ELSE {status} END "
        f"WHERE {q(opts.pk.column)} = %s AND {status} NOT IN (%s, %s) "
        # unclaimed; or claimed earlier by this process, which is not working on it now; or
        # claimed by a worker process whose heartbeat stopped
        f"AND ({q('claim')} IS NULL OR {claimed_by} = %s OR {claimed_by} NOT IN "
        f"(SELECT {q('name')} FROM {q(ScanWorker._meta.db_table)} WHERE {q('last_seen')} >= %s)) "
        f"RETURNING {columns}"
    )
    return sql, [ScanStatus.QUEUED.value, ScanStatus.PREPROCESSING.value]


def _send_count_delivery(scan_id, token: uuid.UUID | None = None, *, own: bool | None = None):
    """Send `_count_delivery`'s UPDATE (and this process's heartbeat, when one is due); the
    returned function, called after the batch, gives what `_count_delivery` returns."""
    from imaging import leases

    sql, status_params = _count_delivery_sql()
    opts = Scan._meta
    now = timezone.now()
    beat = None
    if leases.beat_due():  # the claim's holder must be seen alive by the sweepers
        beat = db_batch.send(leases.beat_sql(), leases.beat_params(now))
    me = leases.identity()
    if own is None:
        own = not leases.running_here(scan_id)
    own_name = me if own else ""  # "" matches no claim
    db_now = opts.get_field("updated_at").get_db_prep_save(now, connection)
    cutoff = opts.get_field("updated_at").get_db_prep_save(
        now - timedelta(seconds=leases.HOLDER_TIMEOUT), connection
    )
    token = opts.get_field("claim").get_db_prep_save(token or uuid.uuid4(), connection)
    pk = opts.pk.get_db_prep_value(opts.pk.to_python(scan_id), connection)
    final = [ScanStatus.DONE.value, ScanStatus.FAILED.value]
    sent = db_batch.send(sql, [db_now, token, me, *status_params, pk, *final, own_name, cutoff])

    def counted() -> Scan | None:
        if beat is not None:
            beat.rows()
        row = sent.row()
        if row is None:
            return None
        values = []
        for field, value in zip(opts.concrete_fields, row, strict=True):
            col = field.get_col(opts.db_table)
            for convert in [*connection.ops.get_db_converters(col), *field.get_db_converters(connection)]:
                value = convert(value, col, connection)
            values.append(value)
        return Scan.from_db(connection.alias, [f.attname for f in opts.concrete_fields], values)

    return counted


def _count_delivery(scan_id) -> Scan | None:
    """Claim the scan for this delivery, count the delivery and, if nothing is done yet,
    show `preprocessing`: ONE UPDATE that returns the scan as it now is, or None if it is
    done, failed, gone or held by another live delivery."""
    with db_batch.batch():
        counted = _send_count_delivery(scan_id)
    return counted()


def run(scan_id) -> str:
    """Run (or resume) the pipeline for one scan; returns the final status, or ``held``
    when another delivery is working on it. Raises ClaimLost when this delivery's claim
    was taken over meanwhile (after deleting the blobs it put that no row names)."""
    from imaging import leases

    own = not leases.running_here(scan_id)
    with leases.working_on(scan_id):
        with db_batch.batch():  # one round trip: the delivery claimed, the original and the model read
            counted = _send_count_delivery(scan_id, own=own)
            original = _send_original(scan_id)
            active_model = _ACTIVE_MODEL.send()
        scan = counted()
        if scan is None:
            row = Scan.objects.filter(pk=scan_id).values_list("status", "claimed_by").first()
            if row is None:
                log.warning("scan %s does not exist (deleted?); nothing to do", scan_id)
                return "missing"
            if row[0] in (ScanStatus.DONE, ScanStatus.FAILED):
                return row[0]
            log.info("scan %s is held by another delivery (%s); this copy leaves it", scan_id, row[1])
            return "held"
        try:
            return _run(scan, original, active_model)
        except (StorageUnavailable, OperationalError) as exc:
            exc.scan_claim = scan.claim  # released by the task when it schedules the retry
            raise


def _run(scan: Scan, original, active_model) -> str:
    scan_id = scan.pk
    if scan.attempts > MAX_ATTEMPTS:
        mark_failed(
            scan_id,
            f"Processing was interrupted {scan.attempts - 1} times (the worker stopped or timed out "
            "each time), so it was stopped. Retry it, and tell the administrator if it fails again.",
        )
        return ScanStatus.FAILED

    store = blobs.store()
    derived: Derived | None = None
    sealed: dict = {}

    # Each status UPDATE below is sent first and its round trip waited for only after the
    # step's own computing (the database works meanwhile): under load a round trip costs
    # about a millisecond of waiting for the database backend to be scheduled.

    # --- preprocessing (decode + 128x128 + pixel hash)
    if _before(scan.status, ScanStatus.STORING):
        _stage_delay("preprocessing")
        derived = _compute(scan, store, original())
        if scan.pixel_sha256 and scan.pixel_sha256 != derived.pixel_sha256:
            raise PipelineFailure(
                "Preprocessing gave a different pixel hash than before; stopped for review."
            )
        d = derived.decoded
        extra = {}
        if derived.ghost is not None:
            extra.update(
                ghost_psnr=derived.ghost.psnr,
                ghost_ssim=derived.ghost.ssim,
                ghost_measurements=derived.ghost.measurements,
            )
        model = None
        if not scan.model_sha256:
            try:  # before the batch: on first use the registry registers the built-in models
                _row, model = diagnosis.active_model(active_model.rows())
            except diagnosis.ModelUnavailable as exc:
                raise PipelineFailure(f"No usable diagnosis model: {exc}") from exc
        # no other database work in a batch: a statement sent inside it waits for its end
        with db_batch.batch():  # `diagnosing` is written while the fingerprint and diagnosis are computed
            diagnosing = _send_advance(
                scan,
                ScanStatus.DIAGNOSING,
                **extra,
                pixel_sha256=derived.pixel_sha256,
                preprocess_version=preprocess.PREPROCESS_VERSION,
                width=d.width,
                height=d.height,
                frames=d.frames,
                modality=scan.modality or d.modality,
                body_part=scan.body_part or d.body_part,
                study_date=scan.study_date or d.study_date,
            )
            found = {}
            if not scan.qwalk_hash:  # computed once; a redelivery keeps the first value
                found["qwalk_hash"] = qwalk_fingerprint(derived.matrix, derived.pixel_sha256)
            if model is not None:
                pred = diagnosis.predict_with(model, derived.matrix)
                found.update(
                    diagnosis_label=pred.label,
                    diagnosis_probability=pred.probability,
                    model_id=pred.model_id,
                    model_version=pred.model_version,
                    model_sha256=pred.model_sha256,
                )
        diagnosing()
        _stage_delay("diagnosing")

        # --- diagnosing done: `encrypting` is written while the derived objects are encrypted
        with db_batch.batch():
            encrypting = _send_advance(scan, ScanStatus.ENCRYPTING, **found)
            sealed = _seal_all(scan, _plaintexts(derived))
        encrypting()

    # --- encrypting: data keys wrapped and each object's CID recorded (StagedObject) in one
    # transaction, BEFORE any derived blob is written
    ciphertexts: dict = {}
    staged_now: list = []
    if derived is not None:
        _stage_delay("encrypting")
        ciphertexts, staged_now = _stage_all(scan, sealed)

    # --- storing: put every staged ciphertext (re-encrypting, under the same wrapped key, one
    # whose blob never reached the store)
    _stage_delay("storing")
    stored = []
    if {s.kind for s in staged_now} == set(DERIVED_KINDS):
        to_store = staged_now  # all staged by this delivery, under the row lock
    else:
        to_store = StagedObject.objects.filter(scan_id=scan_id).order_by("kind")
    puts = []  # (staged row, ciphertext) whose blob is not in the store yet
    for staged in to_store:
        ct = ciphertexts.get(staged.id)
        if ct is None and not (staged.cid and store.exists(staged.cid)):
            if derived is None:
                derived = _compute(scan, store)
            ct = _restage(scan, staged, _plaintexts(derived)[staged.kind])
        if ct is not None:
            puts.append((staged, ct))
        stored.append(staged)
    putting = _start_puts(store, puts)  # awaited inside the recording transaction

    # --- recording: ONE transaction marks the scan done (its row lock), creates the
    # ScanObjects from the staged rows, deletes those rows and records `scan.registered` for
    # the ledger; the entry is signed shortly after, in a batch with the other scans
    # recorded meanwhile
    try:
        recorded = _commit_and_record(scan, stored, store, putting)
    except ClaimLost:
        _discard_unnamed(store, putting)
        raise
    if not recorded:  # a concurrent delivery finished it
        _discard_unnamed(store, putting)
        return ScanStatus.DONE
    from ledger.services import schedule_append

    schedule_append()
    return ScanStatus.DONE


def _start_puts(store, puts: list) -> list:
    """Start putting each (staged row, ciphertext) in the store on this process's put
    threads (a put waits mostly on its fsyncs or on the IPFS node); returns [(staged row,
    Future of its CID)]. The recording transaction waits for them after its reads;
    StorageUnavailable from any put rolls it back and the task retries."""
    from portal.threads import pool

    threads = pool("blob-put", len(DERIVED_KINDS))
    return [(staged, threads.submit(store.put, ct)) for staged, ct in puts]


def _discard_unnamed(store, putting: list) -> None:
    """Delete the blobs this delivery put that no row names (it lost the scan to another
    delivery, which staged or stored its own): a blob a row names is someone's and stays."""
    # a put that failed left no blob (LocalCAS removes its temp file)
    cids = {put.result() for _staged, put in putting if put.exception() is None}
    if not cids:
        return
    named = set(ScanObject.objects.filter(cid__in=cids).values_list("cid", flat=True))
    named |= set(StagedObject.objects.filter(cid__in=cids).values_list("cid", flat=True))
    for cid in cids - named:
        try:
            store.delete(cid)
        except StorageUnavailable:
            log.error("could not delete blob %s put by a delivery that lost its scan", cid, exc_info=True)


def _plaintexts(derived: Derived) -> dict:
    return {
        ObjectKind.PREVIEW: derived.preview.result()
        if derived.preview is not None
        else preprocess.render_preview(derived.decoded.display),
        ObjectKind.MATRIX: preprocess.canonical_bytes(derived.matrix),
    }


def _wrap_derived(scan: Scan, keys: dict, readers) -> None:
    """Wrap the derived objects' new data keys for `readers` (`_derived_readers_query`)."""
    from portal import keys as key_service

    key_service.wrap_like(holder_keys=readers, patient_id=scan.patient_id, data_keys=keys)


def _encrypt(scan: Scan, kind: str, object_id, plaintext: bytes, key: bytes) -> bytes:
    return envelope.encrypt(
        _layered(scan, kind, object_id, plaintext, key), key, object_id=str(object_id), kind=kind, version=1
    )


@dataclass(frozen=True)
class Sealed:
    """A derived object encrypted under a new data key, not yet staged."""

    object_id: uuid.UUID
    key: bytes
    ciphertext: bytes
    cid: str
    ciphertext_sha256: str
    plaintext_size: int


def _seal_all(scan: Scan, plaintexts: dict) -> dict:
    """{kind: Sealed}: each derived object encrypted under a new data key (no database)."""
    from imaging.storage import cid_for

    sealed = {}
    for kind in DERIVED_KINDS:
        object_id, key = derived_object_id(scan.pk, kind), envelope.new_data_key()
        ct = _encrypt(scan, kind, object_id, plaintexts[kind], key)
        sealed[kind] = Sealed(
            object_id, key, ct, cid_for(ct), hashlib.sha256(ct).hexdigest(), len(plaintexts[kind])
        )
    return sealed


def _stage_all(scan: Scan, sealed: dict) -> tuple[dict, list]:
    """Stage the `sealed` objects neither staged nor stored yet: in ONE transaction wrap their
    data keys, record each object's CID and SHA-256 (StagedObject) and move the scan to
    `storing`. Returns ({object id: ciphertext}, the new StagedObject rows); the caller puts
    those bytes. Objects staged by an earlier delivery are left to the storing step (their
    sealed copies here are dropped: their keys were never wrapped)."""
    with transaction.atomic():
        with db_batch.batch():  # one round trip for the three
            # the status UPDATE takes the scan's row lock until the commit, so a concurrent
            # delivery waits here and then finds these kinds staged
            storing = _send_advance(scan, ScanStatus.STORING)
            kinds = _KINDS.send(scan_id=scan.pk)
            readers = _DERIVED_READERS.send(scan_id=scan.pk)
        storing()
        done = {kind for (kind,) in kinds.rows()}
        todo = {kind: sealed[kind] for kind in DERIVED_KINDS if kind not in done}
        if not todo:
            return {}, []
        rows = [
            StagedObject(
                id=obj.object_id,
                scan=scan,
                kind=kind,
                version=1,
                cid=obj.cid,
                ciphertext_sha256=obj.ciphertext_sha256,
                plaintext_size=obj.plaintext_size,
            )
            for kind, obj in todo.items()
        ]
        with db_batch.last_batch():  # one round trip for both inserts and the COMMIT
            # no wraps exist without a staged row
            _wrap_derived(scan, {obj.object_id: obj.key for obj in todo.values()}, readers)
            db_batch.insert(StagedObject, rows)
        return {obj.object_id: obj.ciphertext for obj in todo.values()}, rows


def _restage(scan: Scan, staged: StagedObject, plaintext: bytes) -> bytes:
    """A staged object whose blob never reached the store (the worker stopped in between):
    encrypt it again under its already wrapped key and record the new CID before the put."""
    from imaging.storage import cid_for
    from portal.keys import unwrap_for

    key = unwrap_for(object_id=staged.id, reader=None)
    ct = _encrypt(scan, staged.kind, staged.id, plaintext, key)
    cid, digest = cid_for(ct), hashlib.sha256(ct).hexdigest()
    with transaction.atomic():
        # the scan's row lock, and ClaimLost unless this delivery still holds the scan; then
        # the new CID replaces exactly the one this delivery found
        _advance(scan, ScanStatus.STORING)
        if not StagedObject.objects.filter(pk=staged.pk, cid=staged.cid).update(
            cid=cid, ciphertext_sha256=digest, plaintext_size=len(plaintext)
        ):
            raise ClaimLost(f"the staged {staged.kind} of scan {scan.pk} changed under this delivery")
    staged.cid, staged.ciphertext_sha256, staged.plaintext_size = cid, digest, len(plaintext)
    return ct


def _finish(scan: Scan):
    """Send the UPDATE that marks the scan done with its ledger event id, which also takes the
    row lock that the recording transaction holds until its commit. The returned function,
    called after the batch, gives False if a concurrent delivery already finished it, and
    raises PipelineFailure if it was marked failed."""
    return _send_advance(
        scan,
        ScanStatus.DONE,
        unless_there=True,
        ledger_event_id=ledger_event_id(scan.pk),
        failure_reason="",
        claim=None,  # released with the commit (the WHERE still checks this delivery's token)
        claimed_by="",
    )


OBJECT_COLUMNS = ("id", "kind", "version", "cid", "ciphertext_sha256", "plaintext_size", "backend")


def _delete_staged(ids: list) -> None:
    """DELETE the staged rows `ids` (sent: a database batch does not wait for it)."""
    if not ids:
        return
    q, opts = connection.ops.quote_name, StagedObject._meta
    db_batch.send(  # the table and column names from the model, and placeholders (bandit B608)
        f"DELETE FROM {q(opts.db_table)} WHERE {q(opts.pk.column)} IN ({', '.join(['%s'] * len(ids))})",  # nosec B608
        [opts.pk.get_db_prep_value(i, connection) for i in ids],
    )


def _commit_and_record(scan: Scan, stored: list, store, putting: list = ()) -> bool:
    """`recording`: one transaction marks the scan done (the UPDATE holds the scan's row lock
    until the commit, see `_finish`), creates the ScanObjects from the staged rows, deletes
    those rows and records the ledger event. Any error rolls all of it back, so no one ever
    sees a scan done without its objects and event, and `recording` is this transaction
    rather than a status that is committed on its own. Three database round trips: BEGIN,
    the reads, then the writes with the COMMIT. The blobs being put (`putting`, see
    `_start_puts`) are waited for after the reads, so the waits overlap: a ScanObject row is
    only written for a blob in the store."""
    with transaction.atomic():
        with db_batch.batch():
            finished = _finish(scan)
            objects = _OBJECTS.send(scan_id=scan.pk)
            staged_rows = db_batch.send_query(
                StagedObject.objects.filter(pk__in=[s.pk for s in stored]).values_list(
                    "id", "cid", "ciphertext_sha256", "plaintext_size"
                )
            )
        for staged, put in putting:
            staged.cid = put.result()
            _stage_delay("stored")
        if not finished():
            return False  # a concurrent delivery finished it
        _stage_delay("recording")
        have = {}
        for row in objects.rows():
            obj = ScanObject(scan_id=scan.pk, **dict(zip(OBJECT_COLUMNS, row, strict=True)))
            have[obj.kind] = obj
        current = {row[0]: row for row in staged_rows.rows()}
        new = []
        for staged in stored:
            row = current.get(staged.id)
            if row is None or staged.kind in have:
                continue  # committed by a concurrent delivery
            _id, cid, ciphertext_sha256, plaintext_size = row
            if cid != staged.cid:  # a concurrent delivery re-staged it: our blob is unnamed
                store.delete(staged.cid)
                continue
            new.append(
                ScanObject(
                    id=staged.id,
                    scan_id=scan.pk,
                    kind=staged.kind,
                    version=staged.version,
                    cid=staged.cid,
                    ciphertext_sha256=ciphertext_sha256,
                    plaintext_size=plaintext_size,
                    backend=store.name,
                )
            )
        have.update({o.kind: o for o in new})
        missing = [k for k in DERIVED_KINDS if k not in have]
        if missing:
            raise PipelineFailure(f"Derived objects missing after storing: {', '.join(missing)}.")
        with db_batch.last_batch():  # one round trip for the three writes and the COMMIT
            db_batch.insert(ScanObject, new)
            _delete_staged([o.id for o in new])
            _record_locked(scan, list(have.values()))
    return True


def manifest(objects) -> dict:
    """Canonical description of a scan's stored objects (its SHA-256 goes on the ledger)."""
    return {
        "objects": [
            {"kind": o.kind, "version": o.version, "cid": o.cid, "ciphertext_sha256": o.ciphertext_sha256}
            for o in sorted(objects, key=lambda o: (o.kind, o.version))
        ]
    }


def manifest_sha256(objects) -> str:
    text = json.dumps(manifest(objects), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def ledger_payload(scan: Scan, *, objects: list | None = None) -> tuple[dict, dict]:
    """(payload, fingerprints) of `scan.registered`.

    Field mapping (the ledger schema's scan fields): ``ciphertext_cid`` /
    ``ciphertext_sha256`` = the encrypted original; ``derived_cid`` / ``derived_sha256`` =
    the encrypted preview PNG; ``cid`` / ``sha256`` = the encrypted 128x128 matrix;
    ``manifest_sha256`` = SHA-256 of `manifest` (all objects); ``original_sha256`` = the
    plaintext upload; ``pixel_sha256`` = the canonical matrix bytes. The preprocessing
    version is the fingerprint name ``pixels-preprocess-v<N>`` (value: the pixel hash),
    since the schema has no version field for scan events. ``qwalk`` is the simulated
    quantum-walk hash of `qwalk_message` (secondary fingerprint). The model version has no
    field of its own in scan events either; the registered model ids carry it
    (``pneumonia-qcnn8-1.0.0``).
    """
    from portal.keyvault import pseudonym

    objs = {o.kind: o for o in (objects if objects is not None else ScanObject.objects.filter(scan=scan))}
    orig, prev, mat = objs[ObjectKind.ORIGINAL], objs[ObjectKind.PREVIEW], objs[ObjectKind.MATRIX]
    payload = {
        "scan_id": scan.id,
        "patient": pseudonym("patient", scan.patient_id),
        "format": scan.source_format,
        "pixel_sha256": scan.pixel_sha256,
        "original_sha256": scan.original_sha256,
        "ciphertext_sha256": orig.ciphertext_sha256,
        "ciphertext_cid": orig.cid,
        "derived_sha256": prev.ciphertext_sha256,
        "derived_cid": prev.cid,
        "sha256": mat.ciphertext_sha256,
        "cid": mat.cid,
        "manifest_sha256": manifest_sha256(objs.values()),
        "label": scan.diagnosis_label,
        "probability": float(scan.diagnosis_probability or 0.0),
        "model_id": scan.model_id.lower()[:48],
        "model_sha256": scan.model_sha256,
        "storage": orig.backend,
        "width": scan.width or 0,
        "height": scan.height or 0,
        "frames": scan.frames,
    }
    if scan.modality and scan.modality.lower().isalnum():
        payload["modality"] = scan.modality.lower()
    if scan.acquisition == Acquisition.GHOST:
        payload["kind"] = Acquisition.GHOST.value  # the pixels are a SIMULATED re-acquisition
    fingerprints = {
        f"pixels-preprocess-v{scan.preprocess_version or preprocess.PREPROCESS_VERSION}": scan.pixel_sha256
    }
    if scan.qwalk_hash:
        fingerprints["qwalk"] = scan.qwalk_hash
    return payload, fingerprints


def _record_locked(scan: Scan, objects: list) -> None:
    from ledger.services import record_event

    payload, fingerprints = ledger_payload(scan, objects=objects)
    record_event(
        event_type="scan.registered",
        payload=payload,
        fingerprints=fingerprints,
        event_id=ledger_event_id(scan.pk),
        enqueue=False,  # the pipeline schedules one batched append after the commit
        # `_finish` found the scan not done under its lock, and `done` is only ever set in
        # this same transaction, so the event cannot have been recorded before
        known_new=True,
    )


def requeue_stalled(**options) -> list[str]:
    """Dispatch again the scans that are not final and not being worked on (`imaging.leases`)."""
    from imaging import leases

    return leases.sweep(**options)


__all__ = [
    "ClaimLost",
    "PipelineFailure",
    "StorageUnavailable",
    "decrypt_object",
    "derived_object_id",
    "ledger_event_id",
    "ledger_payload",
    "mark_failed",
    "read_object",
    "requeue_stalled",
    "run",
]
