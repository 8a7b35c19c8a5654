"""Celery tasks: append pending events (enqueued on commit by record_event) and periodic
checkpoints. Beat entry to add to CELERY_BEAT_SCHEDULE::

    "ledger-checkpoint": {"task": "ledger.checkpoint", "schedule": 30.0},

The checkpoint task also appends anything left pending (e.g. when enqueueing failed).
"""

from celery import shared_task
from django.db import OperationalError


@shared_task(
    name="ledger.append_pending",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def append_pending_task(max_batch: int = 256) -> int:
    from ledger import appender
    from ledger.services import append_all

    if appender.running():  # this worker process's appender thread does it, off the task queue
        appender.notify()
        return 0
    return append_all(max_batch=max_batch)


@shared_task(
    name="ledger.checkpoint",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def checkpoint_task() -> int:
    from ledger.services import append_all, checkpoint_seconds, create_checkpoint

    n = append_all()
    create_checkpoint(max_age=checkpoint_seconds())
    return n
