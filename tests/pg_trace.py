"""Round trips to PostgreSQL, counted from libpq's protocol trace (tests only)."""

from __future__ import annotations

import tempfile

from django.db import connection


def round_trips(fn):
    """(round trips `fn` made on this thread's connection, what it returned): each time the
    client sent something and then read the server's answer counts once."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        try:
            out = fn()
        finally:
            pgconn.untrace()
        trace.seek(0)
        directions = [line.split("\t")[1] for line in trace.read().splitlines() if line.count("\t") >= 2]
    return sum(1 for a, b in zip(directions, directions[1:], strict=False) if (a, b) == ("F", "B")), out
