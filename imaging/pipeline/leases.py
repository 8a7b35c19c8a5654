"""Which scans are being worked on, and the sweep that dispatches the others again.

The database, not the broker, says what work is left: a scan that is neither `done` nor
`failed` is either held by a delivery or due to be dispatched.

* **Claim.** A delivery of `imaging.process_scan` first claims the scan (the UPDATE that
  counts it, `imaging.pipeline.claim`): ``Scan.claim`` gets a token of its own and
  ``Scan.claimed_by`` the name of its worker process (``host:pid``). Every later write of
  the delivery is conditional on that token, so a delivery that does not hold the claim
  writes nothing (a second copy of the message gives up at once; one whose claim was taken
  over stops and deletes the blobs it put that no row names). Finishing (`done`) or failing
  releases the claim; a retry releases it with ``dispatched_at`` set to when the retry is due.
* **Heartbeat.** Each worker process has a `ScanWorker` row; a thread of the process
  (started by `start`) writes ``last_seen`` every ``QMC_SCAN_HEARTBEAT_SECONDS`` (2 s). A
  claim whose holder has not been seen for ``QMC_SCAN_HOLDER_TIMEOUT`` seconds (10) is
  gone: the process was killed, hung past its time limit, or lost the database.
* **Sweep** (`sweep`), by the same thread every ``QMC_SCAN_SWEEP_SECONDS`` (5) and once at
  start, plus the beat task as a backstop: a scan whose holder is gone, or that nobody
  holds and whose message was published more than ``QMC_SCAN_REDISPATCH_SECONDS`` (15) ago
  while the broker queue is empty (its message was lost: a broker restart without
  persistence, or prefetched by a killed worker), is dispatched again. Each re-dispatch is
  a compare-and-set on the row, so two sweepers never both send it. While the queue has a
  backlog, unclaimed scans are left alone: their messages are presumably in it, and the
  first sweep after it drains finds any that were not. Partial temporary files of the blob
  store older than ``QMC_BLOB_TMP_MAX_AGE`` (300 s) are removed by the sweep too.

Clocks: heartbeats are compared with the sweeping host's clock, so worker hosts need NTP
(a skew well under the holder timeout).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from imaging.pipeline import broker
from imaging.storage import BlobStore

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = float(os.environ.get("QMC_SCAN_HEARTBEAT_SECONDS", "2"))
HOLDER_TIMEOUT = float(os.environ.get("QMC_SCAN_HOLDER_TIMEOUT", "10"))
SWEEP_SECONDS = float(os.environ.get("QMC_SCAN_SWEEP_SECONDS", "5"))
REDISPATCH_SECONDS = float(os.environ.get("QMC_SCAN_REDISPATCH_SECONDS", "15"))
TMP_MAX_AGE = float(os.environ.get("QMC_BLOB_TMP_MAX_AGE", "300"))
FORGET_WORKERS_AFTER = 86400.0  # heartbeat rows of processes gone this long are deleted
APPLICATION_NAME = "qmedchain-scan-leases"  # the thread's connection, in pg_stat_activity

_running: dict[str, int] = {}  # scans deliveries of this process are working on now
_running_lock = threading.Lock()
_last_beat = [0.0]  # monotonic time of this process's last heartbeat write
_thread: list[Any] = [None, None]  # [threading.Thread, pid]
_stop = threading.Event()


def identity() -> str:
    """This worker process's name: ``host:pid`` (what ``Scan.claimed_by`` holds)."""
    return f"{socket.gethostname()[:180]}:{os.getpid()}"


@contextmanager
def working_on(scan_id: Any) -> Iterator[None]:
    """Mark `scan_id` as worked on by this process for the duration (an earlier claim of
    this process on it is stale unless this process works on it, see `running_here`)."""
    key = str(scan_id)
    with _running_lock:
        _running[key] = _running.get(key, 0) + 1
    try:
        yield
    finally:
        with _running_lock:
            _running[key] -= 1
            if not _running[key]:
                del _running[key]


def running_here(scan_id: Any) -> bool:
    """True while a delivery of this process works on `scan_id`."""
    with _running_lock:
        return str(scan_id) in _running


def beat_due() -> bool:
    """True when this process's heartbeat is older than half a heartbeat period (the claim
    then writes one first)."""
    return time.monotonic() - _last_beat[0] > HEARTBEAT_SECONDS / 2


def beat_sql() -> str:
    from django.db import connection

    from imaging.models import ScanWorker

    q = connection.ops.quote_name
    # only quoted names from the model and %s placeholders are formatted in (bandit B608)
    return (
        f"INSERT INTO {q(ScanWorker._meta.db_table)} ({q('name')}, {q('last_seen')}) VALUES (%s, %s) "  # nosec B608
        f"ON CONFLICT ({q('name')}) DO UPDATE SET {q('last_seen')} = EXCLUDED.{q('last_seen')}"
    )


def beat_params(now: datetime) -> list[Any]:
    from django.db import connection

    from imaging.models import ScanWorker

    _last_beat[0] = time.monotonic()
    return [identity(), ScanWorker._meta.get_field("last_seen").get_db_prep_save(now, connection)]


def beat() -> None:
    """Write this process's heartbeat (one statement)."""
    from django.db import connection
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute(beat_sql(), beat_params(timezone.now()))


def release_own_stale() -> int:
    """Release the claims this process holds on scans it is not working on (a delivery that
    could not release its claim, e.g. the database was down when it ended)."""
    from imaging.models import Scan

    # the lock is held through the UPDATE: a delivery registers (`working_on`) before its
    # claim, so a claim made meanwhile is never released here
    with _running_lock:
        released: int = (
            Scan.objects.filter(claimed_by=identity())
            .exclude(pk__in=list(_running))
            .update(claim=None, claimed_by="")
        )
    return released


def release(scan_id: Any, token: Any, *, due_in: float = 0.0) -> bool:
    """Give up the claim `token` on `scan_id`; its next message is due in `due_in` seconds
    (a retry's countdown), so the sweep does not dispatch it before then."""
    from django.utils import timezone

    from imaging.models import Scan

    if token is None:
        return False
    return bool(
        Scan.objects.filter(pk=scan_id, claim=token).update(
            claim=None, claimed_by="", dispatched_at=timezone.now() + timedelta(seconds=due_in)
        )
    )


def sweep(
    *,
    holder_timeout: float | None = None,
    redispatch_after: float | None = None,
    backlog: Callable[[], int | None] | int | None = broker.backlog,
    store: BlobStore | None = None,
) -> list[str]:
    """Dispatch again every scan that is not final and not being worked on (see the module
    docstring); returns their ids. Each statement reads or writes one table."""
    from django.db.models import Q
    from django.db.models.functions import Coalesce
    from django.utils import timezone

    from imaging.models import Scan, ScanStatus, ScanWorker

    holder_timeout = HOLDER_TIMEOUT if holder_timeout is None else holder_timeout
    redispatch_after = REDISPATCH_SECONDS if redispatch_after is None else redispatch_after
    now = timezone.now()
    alive = list(
        ScanWorker.objects.filter(last_seen__gte=now - timedelta(seconds=holder_timeout)).values_list(
            "name", flat=True
        )
    )
    open_scans = Scan.objects.exclude(status__in=[ScanStatus.DONE, ScanStatus.FAILED])
    gone = list(
        open_scans.filter(claim__isnull=False)
        .exclude(claimed_by__in=alive)
        .values_list("pk", "claim", "claimed_by")
    )
    unclaimed = list(
        open_scans.filter(claim__isnull=True)
        .annotate(due=Coalesce("dispatched_at", "created_at"))
        .filter(due__lt=now - timedelta(seconds=redispatch_after))
        .values_list("pk", "dispatched_at")
    )
    if unclaimed and callable(backlog):
        backlog = backlog()
    if unclaimed and backlog:  # the queue has a backlog: their messages may be in it
        unclaimed = []
    sent = []
    for pk, claim, holder in gone:
        if open_scans.filter(pk=pk, claim=claim).update(claim=None, claimed_by="", dispatched_at=now):
            log.info("scan %s: its worker %s is gone; dispatched again", pk, holder)
            sent.append(pk)
    for pk, dispatched_at in unclaimed:
        same = Q(dispatched_at=dispatched_at) if dispatched_at else Q(dispatched_at__isnull=True)
        if open_scans.filter(same, pk=pk, claim__isnull=True).update(dispatched_at=now):
            log.info("scan %s: nobody holds it and its message is not queued; dispatched again", pk)
            sent.append(pk)
    for pk in sent:
        broker.dispatch(pk)
    ScanWorker.objects.filter(last_seen__lt=now - timedelta(seconds=FORGET_WORKERS_AFTER)).delete()
    clean_temp_files(store)
    return [str(pk) for pk in sent]


def clean_temp_files(store: BlobStore | None = None) -> int:
    """Remove the blob store's partial temporary files older than ``TMP_MAX_AGE``."""
    from imaging import blobs

    store = store or blobs.store()
    clean = getattr(store, "clean_partial", None)
    if clean is None:
        return 0
    try:
        return int(clean(older_than=TMP_MAX_AGE))
    except Exception:  # noqa: BLE001 - an unwritable store: the next sweep tries again
        log.warning("could not clean the blob store's temporary files", exc_info=True)
        return 0


# --- the thread of a worker process -------------------------------------------------------------


def start() -> bool:
    """Start this process's heartbeat-and-sweep thread (a Celery pool process)."""
    thread, pid = _thread
    if thread is not None and pid == os.getpid() and thread.is_alive():
        return True
    _stop.clear()
    thread = threading.Thread(target=_loop, name="scan-leases", daemon=True)
    _thread[:] = [thread, os.getpid()]
    thread.start()
    return True


def stop(timeout: float = 5.0) -> None:
    """Stop the thread and delete this process's heartbeat (a clean shutdown: its claims
    are released at once rather than after the holder timeout)."""
    thread, pid = _thread
    if thread is None or pid != os.getpid():
        return
    _stop.set()
    thread.join(timeout)
    _thread[:] = [None, None]
    try:
        from imaging.models import ScanWorker

        release_own_stale()
        ScanWorker.objects.filter(name=identity()).delete()
    except Exception:  # noqa: BLE001
        log.debug("could not remove this worker's heartbeat", exc_info=True)


def _loop() -> None:
    from django.db import close_old_connections, connection

    next_sweep = 0.0  # at once: the start-up sweep
    quiet_until = 0.0
    try:
        while not _stop.is_set():
            close_old_connections()
            try:
                _name_connection(connection)
                beat()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + SWEEP_SECONDS
                    release_own_stale()
                    sweep()
            except Exception:  # noqa: BLE001 - database or broker down: try again next beat
                if time.monotonic() >= quiet_until:  # one warning a minute, not one per beat
                    log.warning("scan leases: heartbeat or sweep failed; retrying", exc_info=True)
                    quiet_until = time.monotonic() + 60
                connection.close()
            _stop.wait(HEARTBEAT_SECONDS)
    finally:
        connection.close()


def _name_connection(connection: Any) -> None:
    if connection.vendor != "postgresql":
        return
    connection.ensure_connection()
    if connection.connection.info.parameter_status("application_name") != APPLICATION_NAME:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('application_name', %s, false)", [APPLICATION_NAME])
