"""Round trips to PostgreSQL, counted from libpq's protocol trace (tests only)."""

from __future__ import annotations

import tempfile

from django.db import connection


def round_trips(fn):
    """(round trips `fn` made on this thread's connection, what it returned).

    A round trip is a point where the client waits for the server: a simple ``Query``, or a
    ``Sync`` / ``Flush`` that ends a run of extended-protocol messages (pipeline mode sends
    ``Sync`` then ``Flush`` at the end of a batch: one wait). Results the client happens to
    read while it is still sending are not counted, so the count does not depend on timing."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        try:
            out = fn()
        finally:
            pgconn.untrace()
        trace.seek(0)
        sent = [
            fields[3].split(" ")[0]
            for fields in (line.split("\t") for line in trace.read().splitlines())
            if len(fields) > 3 and fields[1] == "F"
        ]
    waits = sum(
        1
        for i, message in enumerate(sent)
        if message in ("Query", "Sync") or (message == "Flush" and (i == 0 or sent[i - 1] != "Sync"))
    )
    return waits, out
