"""The broker side of the pipeline: publishing a scan's message and reading the queue's
backlog (the sweep, `imaging.pipeline.leases`, uses both). By task name, through Celery's
current app: this package never imports the tasks module that imports it."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

TASK_NAME = "imaging.process_scan"  # imaging.tasks.process_scan


def dispatch(scan_id: Any) -> bool:
    """Publish the pipeline's message (`imaging.tasks.process_scan`, by name); False (logged)
    if the broker is unreachable -- the sweep dispatches it later."""
    from celery import current_app

    try:
        current_app.send_task(TASK_NAME, args=[str(scan_id)], retry=True, retry_policy={"max_retries": 2})
        return True
    except Exception:  # noqa: BLE001
        log.warning(
            "could not enqueue scan %s; the stalled-scan sweep will pick it up", scan_id, exc_info=True
        )
        return False


def backlog() -> int | None:
    """Messages waiting in the pipeline's queue; None if the broker cannot tell."""
    from celery import current_app as app

    queue = app.conf.task_default_queue or "celery"
    try:
        with app.pool.acquire(block=True, timeout=5) as conn:
            try:
                return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
            except Exception as exc:  # noqa: BLE001
                # Redis deletes an empty list: a passive declare of it is "not found"
                if "NOT_FOUND" in str(exc) or "no queue" in str(exc).lower():
                    return 0
                raise
    except Exception:  # noqa: BLE001 - broker down: the candidates are tried anyway
        log.debug("could not read the broker's queue length", exc_info=True)
        return None
