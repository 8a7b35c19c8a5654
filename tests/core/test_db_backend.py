"""core.db.postgresql: the per-request health check is skipped only for a connection that
served a request cleanly within the last second; otherwise Django's check runs, and a dead
connection is replaced before the request's first query."""

from __future__ import annotations

import psycopg
import pytest
from django.db import OperationalError, connection

from core.db.postgresql import base

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend"),
]


@pytest.fixture
def checks(monkeypatch):
    """How many times Django's health check (SELECT 1) ran, on a persistent, checked connection
    as the servers run it (the test settings close it after every request)."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.close()
    calls = []
    real = connection.is_usable

    def counted():
        calls.append(1)
        return real()

    monkeypatch.setattr(connection, "is_usable", counted)
    return calls


def request(sql: str = "SELECT 2") -> None:
    """What Django does around a request: close_old_connections at both ends, queries between."""
    connection.close_if_unusable_or_obsolete()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            cursor.fetchone()
    finally:
        connection.close_if_unusable_or_obsolete()


def _kill_backend() -> None:
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_in_steady_use_is_not_checked(checks):
    assert connection.settings_dict["ENGINE"] == "core.db.postgresql"
    connection.ensure_connection()
    connection.proven_at = float("-inf")
    request()
    assert len(checks) == 1  # idle before: checked
    request()
    request()
    assert len(checks) == 1  # each had a clean request less than a second before


def test_an_idle_connection_is_checked_and_a_dead_one_replaced(checks):
    request()
    _kill_backend()
    connection.proven_at -= base.PROVEN_FOR  # idle for longer than the proof lasts
    request()  # no error: the check found it dead and connected afresh
    assert len(checks) == 1


def test_a_request_that_met_an_error_proves_nothing(checks):
    request()
    _kill_backend()  # dies while proven: the documented cost, one failed request
    with pytest.raises(OperationalError):
        request()
    assert connection.proven_at == float("-inf")  # closed after the error, so not proven
    request()  # and the next request connects afresh
