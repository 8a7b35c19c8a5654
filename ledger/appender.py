"""A worker process's ledger appender thread.

In a Celery worker process on PostgreSQL, the events this process records, and the append
task's wake-ups, are signed and appended by one background thread of the process, so a scan
task does not wait for Falcon signatures (~3 ms each, in C code that releases the GIL): the
next scan is processed meanwhile. The thread has its own database connection and takes the
ledger head lock like any appender.

Nothing is lost if the thread or the process dies: pending events are rows
(`PendingEvent`) until the transaction that appends them commits, and the append task, the
periodic checkpoint task and the next wake-up append whatever is left. SQLite (one writer
at a time) and eager tasks keep appending in the calling thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from ledger.wakeups import _cond, _stop, _thread, _waiting, notify, on_thread, running

__all__ = ["notify", "on_thread", "running", "start", "stop"]

log = logging.getLogger(__name__)

# the thread's nice value above its process's: signing is off the scans' path (see
# core.threads.lower_priority); a thread at nice 10 still gets about a tenth of a busy CPU
# and all of an idle one, so entries keep being appended under load
NICE = int(os.environ.get("QMC_LEDGER_APPENDER_NICE", "10"))

# after a wake-up the thread gathers events for up to this long, or until a batch of
# LEDGER_APPEND_BATCH is waiting, so that they are appended in one transaction; after a
# batch of BUSY_BATCH entries or more (requests keep recording), for BUSY_GATHER_SECONDS:
# a batch's fixed cost (its Falcon signature, a checkpoint's three, a dozen statements) is
# then shared by a few hundred entries instead of a few dozen
GATHER_SECONDS = 0.1
BUSY_BATCH = 32
BUSY_GATHER_SECONDS = 0.5
APPLICATION_NAME = "qmedchain-ledger-appender"  # its connection, in pg_stat_activity

backend_pid: list = [None]  # the thread's PostgreSQL backend, once connected


def start() -> bool:
    """Start this process's appender thread (PostgreSQL only); True if it runs."""
    from django.db import connection

    if running():
        return True
    if connection.vendor != "postgresql":
        return False
    _stop.clear()
    notify()  # anything left pending by an earlier process is appended first
    thread = threading.Thread(target=_loop, name="ledger-appender", daemon=True)
    _thread[:] = [thread, os.getpid()]
    thread.start()
    return True


def stop(timeout: float = 10.0) -> None:
    """Stop the thread after its current batch (tests, worker process shutdown)."""
    thread, pid = _thread
    if thread is None or pid != os.getpid():
        return
    _stop.set()
    notify()
    thread.join(timeout)
    _thread[:] = [None, None]


def _loop() -> None:
    from django.db import close_old_connections, connection

    from core.threads import lower_priority
    from ledger import services

    lower_priority(NICE)
    appended = 0
    try:
        while not _stop.is_set():
            _gather(services.append_batch(), BUSY_GATHER_SECONDS if appended >= BUSY_BATCH else GATHER_SECONDS)
            close_old_connections()  # this thread's connection: health-checked, or replaced
            appended = 0
            try:
                _name_connection(connection)
                appended = services.append_all()
            except Exception:  # noqa: BLE001 - the rows stay pending; the append task retries
                log.warning(
                    "ledger: the appender thread could not append; enqueueing the task", exc_info=True
                )
                connection.close()
                services.enqueue_append()
    finally:
        connection.close()


def _gather(batch: int, seconds: float) -> None:
    """Wait for a notification, then for more: until `batch` events are waiting or
    `seconds` have passed (or the thread is being stopped)."""
    with _cond:
        while not _waiting[0] and not _stop.is_set():
            _cond.wait()
        deadline = time.monotonic() + seconds
        while _waiting[0] < batch and not _stop.is_set() and (left := deadline - time.monotonic()) > 0:
            _cond.wait(left)
        _waiting[0] = 0  # a notification from here on is the next batch's


def _name_connection(connection) -> None:
    """The thread's connection shows as `qmedchain-ledger-appender` in pg_stat_activity."""
    connection.ensure_connection()
    backend_pid[0] = connection.connection.info.backend_pid
    if connection.connection.info.parameter_status("application_name") != APPLICATION_NAME:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('application_name', %s, false)", [APPLICATION_NAME])
