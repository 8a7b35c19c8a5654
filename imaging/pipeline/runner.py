"""The runner: one delivery of `imaging.tasks.process_scan`, start to end. The idempotency,
status and retry rules are here; the stages are plain functions in their own modules.

    claim -> preprocess (prepare) -> diagnose -> seal -> store (stage, put) -> record -> done

* **Claim** (`claim.count_delivery`): ONE UPDATE counts the delivery, records its claim
  token and worker process, and returns the scan; None when it is done, failed, gone or
  held by another live delivery (this copy then writes nothing). Every later status UPDATE
  is fenced on the token; a delivery whose claim was taken over stops with `ClaimLost` and
  deletes the blobs it put that no row names (`imaging.pipeline.leases`: heartbeats, sweep).
* **Status** (`status.advance`): forward only, never out of ``failed``. Stages already done
  (the status says so) are skipped; preprocessing, diagnosis and sealing are pure and
  deterministic, so a redelivery before ``storing`` recomputes them and checks the pixel
  SHA-256 against the one recorded. Object ids derive from (scan id, kind, version).
* **Retry**: `StorageUnavailable` and database `OperationalError` are retried by the task
  with backoff (``MAX_RETRIES``), the claim released until the retry is due;
  `PipelineFailure` is permanent (the scan becomes ``failed`` with its message). More than
  ``MAX_ATTEMPTS`` deliveries that claimed the scan mark it failed (poison-message guard).

Each delivery that claimed the scan logs ONE line at its end: the outcome and each stage's
time in ms, with the scan id and nothing about the patient or the findings.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import OperationalError

from imaging import blobs
from imaging.models import Acquisition, Scan
from imaging.pipeline import claim, diagnose, faults, leases, prepare, record, seal
from imaging.pipeline import store as storing
from imaging.pipeline.status import (
    DIAGNOSING,
    DONE,
    ENCRYPTING,
    FAILED,
    STORING,
    ClaimLost,
    PipelineFailure,
    advance,
    before,
    mark_failed,
)
from imaging.storage import BlobStore, StorageUnavailable

log = logging.getLogger(__name__)

MAX_RETRIES = int(os.environ.get("QMC_SCAN_MAX_RETRIES", "5"))
MAX_ATTEMPTS = int(os.environ.get("QMC_SCAN_MAX_ATTEMPTS", str(MAX_RETRIES + 4)))


class Clock:
    """Milliseconds per stage of one delivery."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - t0) * 1000

    def line(self) -> str:
        total = (time.perf_counter() - self.start) * 1000
        return " ".join([f"total={total:.1f}", *(f"{k}={v:.1f}" for k, v in self.ms.items())])


def log_scan(scan_id: Any, outcome: str, clock: Clock) -> None:
    """The delivery's one line (ids and times only: no patient data)."""
    log.info("scan %s %s ms: %s", scan_id, outcome, clock.line())


def run(scan_id: Any) -> str:
    """Run (or resume) the pipeline for one scan; returns the final status, or ``held``
    when another delivery is working on it. Raises ClaimLost when this delivery's claim
    was taken over meanwhile (after deleting the blobs it put that no row names)."""
    own = not leases.running_here(scan_id)
    with leases.working_on(scan_id):
        clock = Clock()
        with clock.stage("claim"):
            scan = claim.count_delivery(scan_id, own=own)
        if scan is None:
            row = Scan.objects.filter(pk=scan_id).values_list("status", "claimed_by").first()
            if row is None:
                log.warning("scan %s does not exist (deleted?); nothing to do", scan_id)
                return "missing"
            if row[0] in (DONE, FAILED):
                return str(row[0])
            log.info("scan %s is held by another delivery (%s); this copy leaves it", scan_id, row[1])
            return "held"
        outcome = "failed"
        try:
            outcome = _run(scan, clock)
            return outcome
        except (StorageUnavailable, OperationalError) as exc:
            outcome = f"retry ({type(exc).__name__})"
            exc.scan_claim = scan.claim  # type: ignore[union-attr]  # released by the task before its retry
            raise
        except ClaimLost:
            outcome = "lost (another delivery holds it)"
            raise
        except BaseException as exc:
            outcome = f"failed ({type(exc).__name__})"
            raise
        finally:
            log_scan(scan_id, outcome, clock)


def _prepared(scan: Scan, store: BlobStore) -> prepare.Prepared:
    data = prepare.load_original(prepare.read_original(scan.pk), store)
    ghost = None
    if scan.acquisition == Acquisition.GHOST:
        ghost = dict(method=scan.ghost_method, ratio=scan.ghost_ratio, seed=prepare.ghost_seed(scan.pk))
    return prepare.prepare(data, scan.source_format, ghost=ghost)


def _run(scan: Scan, clock: Clock) -> str:
    if scan.attempts > MAX_ATTEMPTS:
        mark_failed(
            scan.pk,
            f"Processing was interrupted {scan.attempts - 1} times (the worker stopped or timed out "
            "each time), so it was stopped. Retry it, and tell the administrator if it fails again.",
        )
        return FAILED
    store = faults.storage(blobs.store())
    prepared: prepare.Prepared | None = None
    sealed: dict[str, seal.Sealed] = {}

    if before(scan.status, STORING):
        with clock.stage("preprocess"):
            faults.point("preprocessing")
            prepared = _prepared(scan, store)
            if scan.pixel_sha256 and scan.pixel_sha256 != prepared.pixel_sha256:
                raise PipelineFailure(
                    "Preprocessing gave a different pixel hash than before; stopped for review."
                )
            advance(scan, DIAGNOSING, **prepare.scan_fields(prepared, scan))
        with clock.stage("diagnose"):
            model = None if scan.model_sha256 else diagnose.active_model()  # a redelivery keeps the first
            found = diagnose.diagnose(
                prepared.matrix,
                prepared.pixel_sha256,
                model=model,
                fingerprint=not scan.qwalk_hash,
                meta=diagnose.metadata_of(scan, prepared.decoded),
            )
            faults.point("diagnosing")
            advance(scan, ENCRYPTING, **found)
        with clock.stage("seal"):
            plain = {
                **seal.plaintexts(prepared),
                **diagnose.saliency_plaintexts(scan, prepared.matrix, model),
            }
            sealed = seal.seal_all(scan.pk, plain, neqr_layer=scan.neqr_layer)
            faults.point("encrypting")

    with clock.stage("store"):
        # keys wrapped and CIDs recorded BEFORE any derived blob is written
        ciphertexts, staged_now = storing.stage(scan, sealed) if sealed else ({}, [])
        faults.point("storing")
        puts, stored = [], []
        for staged in storing.pending(scan.pk, staged_now):
            ciphertext = ciphertexts.get(staged.id)
            if ciphertext is None and not (staged.cid and store.exists(staged.cid)):
                # staged by a delivery that stopped before its put: encrypt again, same key
                prepared = prepared or _prepared(scan, store)
                plain = seal.plaintexts(prepared)
                if staged.kind not in plain:  # the saliency map: computed again, deterministic
                    plain.update(diagnose.saliency_plaintexts(scan, prepared.matrix))
                ciphertext = storing.restage(scan, staged, plain[staged.kind])
            if ciphertext is not None:
                puts.append((staged, ciphertext))
            stored.append(staged)
        put = storing.put_all(store, puts)
        faults.point("stored")

    with clock.stage("record"):
        try:
            recorded = record.record(scan, stored, store)
        except ClaimLost:
            storing.discard_unnamed(store, put)
            raise
    if not recorded:  # a concurrent delivery finished it
        storing.discard_unnamed(store, put)
        return DONE
    from ledger.services import schedule_append

    schedule_append()
    return DONE


def requeue_stalled(**options: Any) -> list[str]:
    """Dispatch again the scans that are not final and not being worked on (`leases.sweep`)."""
    return leases.sweep(**options)
