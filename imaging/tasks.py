"""Celery tasks of the scan pipeline. Messages carry the scan id only.

Reliability settings (on top of the project-wide late acks, reject-on-worker-lost,
prefetch 1 and time limits in settings): `StorageUnavailable` (and database
`OperationalError`) are retried automatically with exponential backoff and full jitter up
to ``QMC_SCAN_MAX_RETRIES`` (default 5; backoff factor ``QMC_SCAN_RETRY_BACKOFF`` s,
capped at ``QMC_SCAN_RETRY_BACKOFF_MAX`` s). When retries run out -- or on any
non-retryable error -- the scan is marked `failed` with a reason a person can act on, and
can be retried from the scan page (`imaging.services.scan_retry`).

The database says what work is left (`imaging.pipeline.leases`): each delivery claims its scan, each
worker process writes a heartbeat every 2 s from a thread that also sweeps every 5 s, and
a scan that is not final and that no live process holds is dispatched again within
seconds (its holder's heartbeat stopped, or its message was lost). A copy of a message
whose scan is held by another delivery returns ``held`` and writes nothing. A retry
releases the claim until its countdown is due. `imaging.requeue_stalled` runs the same
sweep from beat, as a backstop.
"""

from __future__ import annotations

import logging
import os

from celery import Task, shared_task
from celery.signals import worker_init, worker_process_init, worker_process_shutdown
from django.db import OperationalError

from imaging import pipeline
from imaging.pipeline import broker, leases
from imaging.storage import StorageUnavailable

log = logging.getLogger(__name__)

RETRY_BACKOFF = int(os.environ.get("QMC_SCAN_RETRY_BACKOFF", "2"))
RETRY_BACKOFF_MAX = int(os.environ.get("QMC_SCAN_RETRY_BACKOFF_MAX", "120"))


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, pipeline.PipelineFailure):
        return str(exc)
    if isinstance(exc, StorageUnavailable):
        return (
            f"The storage service was unavailable after {pipeline.MAX_RETRIES} retries. Nothing was lost: "
            "the encrypted data is kept; press Retry when storage is back."
        )
    if isinstance(exc, OperationalError):
        return "The database was unavailable after several retries. Press Retry to try again."
    name = type(exc).__name__
    if name in ("SoftTimeLimitExceeded", "TimeLimitExceeded"):
        return "Processing took too long and was stopped. Press Retry, or upload a smaller image."
    return f"Unexpected error while processing ({name}). Press Retry; tell the administrator if it happens again."


class ScanTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):  # retries exhausted or permanent error
        scan_id = args[0] if args else kwargs.get("scan_id")
        if scan_id:
            pipeline.mark_failed(scan_id, failure_reason(exc))

    def retry(self, args=None, kwargs=None, exc=None, throw=True, eta=None, countdown=None, **options):
        """Release the delivery's claim before the retry is scheduled, due when its countdown
        ends (so the sweep does not dispatch it sooner)."""
        token = getattr(exc, "scan_claim", None)
        scan_args = args if args is not None else self.request.args
        if token is not None and scan_args:
            try:
                leases.release(scan_args[0], token, due_in=float(countdown or 0))
            except Exception:  # noqa: BLE001 - the database is down: this process's thread releases it later
                log.info("could not release the claim on scan %s before its retry", scan_args[0])
        return super().retry(args, kwargs, exc, throw, eta, countdown, **options)


@shared_task(
    bind=True,
    base=ScanTask,
    name="imaging.process_scan",  # broker.TASK_NAME
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(StorageUnavailable, OperationalError),
    retry_backoff=RETRY_BACKOFF,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=pipeline.MAX_RETRIES,
)
def process_scan(self, scan_id: str) -> str:
    try:
        return str(pipeline.run(scan_id))
    except pipeline.PipelineFailure as exc:
        pipeline.mark_failed(scan_id, str(exc))
        return "failed"
    except pipeline.ClaimLost:
        log.info("scan %s: another delivery holds it now; this one stopped", scan_id)
        return "lost"


@shared_task(name="imaging.requeue_stalled", acks_late=True)
def requeue_stalled(*_ignored) -> list[str]:
    return pipeline.requeue_stalled()


def enqueue(scan_id) -> bool:
    """Publish the pipeline message; False (logged) if the broker is unreachable -- the
    sweep (`imaging.pipeline.leases`) enqueues it later."""
    return broker.dispatch(scan_id)


@worker_init.connect
def _preload_models(sender=None, **kwargs):
    """Load what every scan needs once, in the worker's main process before the pool forks
    (children share it copy-on-write): both committed diagnosis models (importing
    ``imaging.ml`` pulls in scikit-learn, ~1.5-2.5 s, which the first scan of every child
    used to pay) and the quantum-walk hash's step table. Pure file reads, no database."""
    from imaging import diagnosis

    for kind in ("classical", "qcnn"):
        try:
            diagnosis.load(kind)
        except diagnosis.ModelUnavailable:
            log.warning("could not preload the %s diagnosis model", kind, exc_info=True)
    try:
        from quantum.qwalk_hash import byte_table

        byte_table()
    except Exception:  # noqa: BLE001 - the pipeline computes it on first use then
        log.warning("could not preload the quantum-walk table", exc_info=True)


@worker_process_init.connect
def _start_leases(**kwargs):
    """Each pool process writes its heartbeat and sweeps on a thread of its own; its first
    sweep, at once, is the start-up sweep (scans left by killed workers, lost messages,
    partial temporary files)."""
    if os.environ.get("QMC_SCAN_LEASES_THREAD", "1") == "1":
        leases.start()


@worker_process_shutdown.connect
def _stop_leases(**kwargs):
    leases.stop()
