import pytest

from portal.models import WorkerHeartbeat
from portal.tasks import heartbeat
from tests.conftest import wait_for


@pytest.mark.smoke
@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_a_task_against_the_test_database(celery_worker):
    assert not WorkerHeartbeat.objects.exists()
    heartbeat.delay()
    row = wait_for(lambda: WorkerHeartbeat.objects.first(), timeout=60, what="the worker's heartbeat row")
    assert row.hostname.startswith("test-")


def _worker_backends(name: str | None = None) -> set[tuple[int, object]]:
    from django.db import connection

    from portal.celery import WORKER_APPLICATION_NAME

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [name or WORKER_APPLICATION_NAME],
        )
        return set(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_real_worker_process_runs_a_ledger_appender_thread(celery_worker):
    """Scans do not wait for their Falcon signatures: each pool process appends on a thread
    with a connection of its own (ledger.appender)."""
    from django.db import connection

    from ledger.appender import APPLICATION_NAME
    from ledger.models import Entry
    from ledger.services import record_event
    from ledger.tasks import append_pending_task

    if connection.vendor != "postgresql":
        pytest.skip("the appender thread runs on PostgreSQL only")
    event = record_event(
        event_type="scan.accessed",
        payload={
            "scan_id": "6f1c7e2a-1b2c-4d5e-8f90-0a1b2c3d4e5f",
            "actor": "0123456789abcdef0123456789abcdef",
        },
        enqueue=False,
    )
    append_pending_task.delay()  # the task only wakes the thread
    wait_for(lambda: Entry.objects.filter(event_id=event).exists(), timeout=60, what="the appended entry")
    assert len(_worker_backends(APPLICATION_NAME)) == 1


@pytest.mark.django_db(transaction=True)
def test_real_worker_keeps_its_database_connection_between_tasks(celery_worker):
    """Celery's Django fixup would open a new PostgreSQL connection for every task."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("pg_stat_activity is PostgreSQL's")
    seen = []
    for _ in range(3):
        WorkerHeartbeat.objects.all().delete()
        heartbeat.delay()
        wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=60, what="the worker's heartbeat row")
        seen.append(wait_for(_worker_backends, timeout=10, what="the worker's connection after its task"))
    assert len(seen[0]) == 1, seen
    assert seen[0] == seen[1] == seen[2], "the worker connected again for a later task"


class _Request:
    is_eager = False


class _Task:
    request = _Request()


@pytest.mark.django_db(transaction=True)
def test_a_task_that_did_not_succeed_leaves_no_database_connection_behind():
    from django.db import connection

    from portal.celery import _db_after_task, _db_before_task

    connection.ensure_connection()
    kept = connection.connection
    _db_before_task(task=_Task())
    _db_after_task(task=_Task(), state="SUCCESS")
    assert connection.connection is kept  # a healthy connection is reused
    for state in ("FAILURE", "RETRY"):
        connection.ensure_connection()
        _db_after_task(task=_Task(), state=state)
        assert connection.connection is None, state  # possibly interrupted mid-query: closed


@pytest.mark.django_db(transaction=True)
def test_a_dropped_connection_is_replaced_before_the_next_task():
    from django.db import connection, connections

    from portal.celery import _db_before_task

    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    connection.ensure_connection()
    old_pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")  # the server ends it, as on a restart
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    finally:
        other.close()
    _db_before_task(task=_Task())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old_pid


def test_worker_settings_for_a_lost_broker_connection_are_quiet_and_explicit():
    """After a broker restart the worker used to log "Error on restarting Gossip:
    AttributeError" and warn that worker_cancel_long_running_tasks_on_connection_loss is not
    set (bench/recovery.py counts both in the workers' logs: none)."""
    from celery.utils.imports import symbol_by_name

    from portal.celery import app

    consumer = symbol_by_name(app.conf.worker_consumer)
    steps = [str(s) for s in consumer.Blueprint.default_steps]
    assert not any(s.endswith(":Gossip") for s in steps) and any(s.endswith(":Tasks") for s in steps)
    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is True
    from imaging.tasks import RETRY_BACKOFF_MAX

    visibility = app.conf.broker_transport_options.get("visibility_timeout")
    if visibility is not None:  # Redis: longer than any task holds its message unacknowledged
        assert visibility > app.conf.task_time_limit + RETRY_BACKOFF_MAX
