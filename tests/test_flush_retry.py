"""The harness's teardown flush survives a deadlock with another connection (tests/conftest.py,
`_flush_survives_a_deadlock_with_the_worker`): the session's real worker may hold locks on
ledger tables while a transactional test's teardown TRUNCATEs them all."""

import re
import threading
import time

import pytest
from django.core.management.color import no_style
from django.db import connection, connections


@pytest.mark.django_db(transaction=True)
def test_flush_retries_when_it_loses_a_deadlock():
    from django.core.management import call_command

    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE deadlocks are PostgreSQL's")
    (truncate,) = connection.ops.sql_flush(
        no_style(), connection.introspection.django_table_names(only_existing=True, include_views=False)
    )
    tables = re.findall(r'"([^"]+)"', truncate)
    first, last = tables[0], tables[-1]
    holding, released, outcome = threading.Event(), threading.Event(), {}

    def other_client():
        other = connections.create_connection("default")
        try:
            other.set_autocommit(False)
            with other.cursor() as cursor:
                cursor.execute(f'LOCK TABLE "{last}" IN ROW EXCLUSIVE MODE')  # as an UPDATE would
                holding.set()
                time.sleep(0.3)  # the flush now waits for this lock, holding the first table
                try:
                    cursor.execute(f'SELECT 1 FROM "{first}" LIMIT 1')  # ...which this one needs
                    outcome["other"] = "went on"
                except Exception as exc:  # noqa: BLE001
                    outcome["other"] = type(exc).__name__
            other.rollback()
        finally:
            other.close()
            released.set()

    thread = threading.Thread(target=other_client)
    thread.start()
    assert holding.wait(10)
    started = time.monotonic()
    call_command("flush", interactive=False, verbosity=0)
    thread.join(30)
    # PostgreSQL detects the cycle after deadlock_timeout (1 s) and ends one side; whichever it
    # was, the flush itself went through
    assert released.is_set() and outcome.get("other") in {"went on", "DeadlockDetected", "OperationalError"}
    assert time.monotonic() - started < 20
