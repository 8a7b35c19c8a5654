"""Celery tasks: append pending events (enqueued on commit by record_event) and periodic
checkpoints. Beat entry to add to CELERY_BEAT_SCHEDULE::

    "ledger-checkpoint": {"task": "ledger.checkpoint", "schedule": 30.0},

The checkpoint task also appends anything left pending (e.g. when enqueueing failed).
"""

from celery import shared_task
from django.db import OperationalError

from ledger import services, wakeups


@shared_task(
    name="ledger.append_pending",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def append_pending_task(max_batch: int = 256) -> int:
    if wakeups.running():  # this worker process's appender thread does it, off the task queue
        wakeups.notify()
        return 0
    return services.append_all(max_batch=max_batch)


@shared_task(
    name="ledger.checkpoint",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def checkpoint_task() -> int:
    n = services.append_all()
    services.create_checkpoint(max_age=services.checkpoint_seconds())
    return n


services.use_append_task(append_pending_task)


@shared_task(name="ledger.verify_now", acks_late=True)
def verify_now_task(job: str) -> bool:
    """The explorer's "verify now" (ledger.verify_jobs): a full re-verification with progress."""
    from ledger import verify_jobs

    return bool(verify_jobs.run(job)["ok"])
