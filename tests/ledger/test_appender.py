import pytest
from django.db import connection

from ledger import appender, services
from ledger.models import Entry, PendingEvent
from ledger.services import record_event, schedule_append
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

PID = "0123456789abcdef0123456789abcdef"
SCAN = "6f1c7e2a-1b2c-4d5e-8f90-0a1b2c3d4e5f"


@pytest.fixture
def thread(ledger_settings):
    if connection.vendor != "postgresql":
        pytest.skip("the appender thread runs on PostgreSQL only")
    assert appender.start()
    yield
    appender.stop()
    assert not appender.running()


def _record(n):
    ids = [
        record_event(event_type="scan.accessed", payload={"scan_id": SCAN, "actor": PID}, enqueue=False)
        for _ in range(n)
    ]
    schedule_append()  # what a worker task calls after its commit
    return ids


def test_a_worker_process_signs_on_its_appender_thread_and_loses_nothing_when_a_batch_fails(
    thread, monkeypatch
):
    ids = _record(3)
    entries = wait_for(
        lambda: (
            list(Entry.objects.filter(event_id__in=ids).order_by("index"))
            if Entry.objects.filter(event_id__in=ids).count() == 3
            else None
        ),
        timeout=30,
        what="the appender thread's entries",
    )
    # signed (in the batch form: one signature per batch, over the batch's Merkle root)
    from ledger.verification import verify_database

    assert all(e.batch is not None for e in entries)
    assert verify_database()["ok"]
    # its own connection, named for operators
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name FROM pg_stat_activity WHERE pid = %s", [appender.backend_pid[0]]
        )
        assert cursor.fetchone()[0] == appender.APPLICATION_NAME
        assert appender.backend_pid[0] != connection.connection.info.backend_pid

    # a batch that fails: the events stay pending, the append task is asked for, the thread lives on
    enqueued = []
    real = services.append_all

    def failing(**kw):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "append_all", failing)
    monkeypatch.setattr(services, "enqueue_append", lambda: enqueued.append(1))
    later = _record(2)
    wait_for(lambda: enqueued, timeout=30, what="the fallback append task")
    assert appender.running()
    assert PendingEvent.objects.filter(event_id__in=later).count() == 2
    assert not Entry.objects.filter(event_id__in=later).exists()
    monkeypatch.setattr(services, "append_all", real)
    appender.notify()
    wait_for(
        lambda: Entry.objects.filter(event_id__in=later).count() == 2, timeout=30, what="the retried batch"
    )
    assert not PendingEvent.objects.exists()


def test_the_thread_signs_at_a_lower_cpu_priority_than_the_scans_thread(thread):
    """Under load, signing must not take CPU turns from the scan being processed (the nice
    value of the appender thread alone is raised; the process's other threads keep theirs)."""
    import os

    base = os.getpriority(os.PRIO_PROCESS, 0)
    tid = appender._thread[0].native_id
    wait_for(
        lambda: os.getpriority(os.PRIO_PROCESS, tid) == min(19, base + appender.NICE),
        timeout=10,
        what="the appender thread's nice value",
    )
    assert appender.NICE > 0
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # this (the scans') thread is untouched


def test_the_append_task_wakes_the_thread_instead_of_signing_in_the_task(thread):
    from ledger.tasks import append_pending_task

    ids = [record_event(event_type="scan.accessed", payload={"scan_id": SCAN, "actor": PID}, enqueue=False)]
    assert append_pending_task.run() == 0  # returns at once: the thread appends
    wait_for(lambda: Entry.objects.filter(event_id__in=ids).exists(), timeout=30, what="the entry")


@pytest.mark.smoke
def test_no_appender_thread_on_sqlite(ledger_settings):
    if connection.vendor == "postgresql":
        pytest.skip("checks the embedded default")
    assert not appender.start()
    assert not appender.running()
