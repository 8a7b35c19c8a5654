"""The explorer's "verify now": a full re-verification (ledger.verification) run by
a Celery worker, its progress kept in the shared cache so the page can poll it.

One job at a time: starting while one is queued or running returns that one. The newest
finished report is kept as `last()` (the auditor's home page shows when the ledger was last
verified, and whether it passed).
"""

from __future__ import annotations

import logging
import uuid

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from ledger.selectors import tree_size
from ledger.verification import verify_database

log = logging.getLogger(__name__)

TTL = 24 * 3600
_CURRENT = "ledger:verify:current"
_LAST = "ledger:verify:last"


def _key(job: str) -> str:
    return f"ledger:verify:job:{job}"


def _valid(job: str) -> bool:
    try:
        uuid.UUID(hex=job)
    except (ValueError, TypeError):
        return False
    return True


def status(job: str) -> dict | None:
    """{"state": queued|running|done|failed, "done": n, "total": n, "percent", "report"?}."""
    if not _valid(job):
        return None
    st = cache.get(_key(job))
    if st is None:
        return None
    total = st.get("total") or 0
    st["percent"] = (
        100
        if st["state"] in ("done", "failed")
        else (min(99, round(100 * st["done"] / total)) if total else 0)
    )
    return st


def last() -> dict | None:
    return cache.get(_LAST)


def start() -> str:
    """Queue a verification (or return the one already queued or running)."""
    current = cache.get(_CURRENT)
    if current:
        st = cache.get(_key(current))
        if st is not None and st["state"] in ("queued", "running"):
            return current
    job = uuid.uuid4().hex
    cache.set(_key(job), {"state": "queued", "done": 0, "total": tree_size()}, TTL)
    cache.set(_CURRENT, job, TTL)

    def enqueue() -> None:
        from celery import current_app

        try:
            # by name (ledger.tasks imports this module): the worker runs ledger.tasks.verify_now_task
            current_app.send_task("ledger.verify_now", args=[job])
        except Exception:  # noqa: BLE001 - the broker is down: the page says so
            log.warning("ledger verify job %s could not be queued", job)
            cache.set(
                _key(job),
                {"state": "failed", "done": 0, "total": 0, "error": "The task queue is unavailable."},
                TTL,
            )

    transaction.on_commit(enqueue)
    return job


def run(job: str) -> dict:
    """The worker's part: verify everything, reporting progress every 200 entries."""
    total = tree_size()
    cache.set(_key(job), {"state": "running", "done": 0, "total": total}, TTL)

    def progress(n: int) -> None:
        cache.set(_key(job), {"state": "running", "done": n, "total": total}, TTL)

    report = verify_database(chunk=200, progress=progress)
    state = "done" if report["ok"] else "failed"
    cache.set(
        _key(job), {"state": state, "done": report.get("entries", 0), "total": total, "report": report}, TTL
    )
    cache.set(
        _LAST,
        {"at": timezone.now().isoformat(), "ok": report["ok"], "entries": report.get("entries", 0)},
        TTL * 30,
    )
    log.info(
        "ledger verify job %s: %s, %s entries in %ss",
        job,
        state,
        report.get("entries"),
        report.get("seconds"),
    )
    return report
