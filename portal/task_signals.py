"""Celery signals for operations: the request id travels with a task, and task metrics.

- `before_task_publish` puts the current request id (core.logs) in the message's headers;
  `task_prerun` restores it in the worker, with the task's id, so the worker's lines of a task
  carry the id of the request that enqueued it (and a task enqueued by a task passes it on).
- Counts and durations per task name (prometheus_client). In a worker started with
  PROMETHEUS_MULTIPROC_DIR (`make run`, the systemd units) each pool process writes its own
  files there and /metrics merges them with gunicorn's (portal/metrics.py).
"""

from __future__ import annotations

import time

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_process_shutdown
from prometheus_client import Counter, Histogram

from core.logs import TASK_HEADER, request_id_var, task_id_var, valid_request_id

TASKS = Counter(
    "qmedchain_celery_tasks",
    "Celery tasks run, by task name and final state of the run (SUCCESS, FAILURE, RETRY, ...).",
    ["task", "state"],
)
TASK_SECONDS = Histogram(
    "qmedchain_celery_task_duration_seconds",
    "Seconds a Celery task ran, by task name.",
    ["task"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)

# per running task id: (start time, the context tokens to reset)
_running: dict[str, tuple[float, object, object]] = {}


@before_task_publish.connect
def _publish_request_id(headers=None, **kwargs):
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers[TASK_HEADER] = request_id


def _request_id_of(task) -> str | None:
    request = task.request
    value = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    return value if valid_request_id(value) else None


@task_prerun.connect
def _task_started(task_id=None, task=None, **kwargs):
    if task is None or task_id is None:
        return
    request_id = _request_id_of(task) or request_id_var.get()  # eager: the caller's
    _running[task_id] = (time.monotonic(), request_id_var.set(request_id), task_id_var.set(task_id))


@task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **kwargs):
    started = _running.pop(task_id, None) if task_id else None
    if started is None or task is None:
        return
    began, request_token, task_token = started
    name = task.name or "unknown"
    TASKS.labels(task=name, state=state or "UNKNOWN").inc()
    TASK_SECONDS.labels(task=name).observe(time.monotonic() - began)
    task_id_var.reset(task_token)
    request_id_var.reset(request_token)


@worker_process_shutdown.connect
def _mark_dead(pid=None, **kwargs):
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
