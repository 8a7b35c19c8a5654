"""Django's PostgreSQL backend, with the health check skipped for a connection in steady use.

With CONN_HEALTH_CHECKS Django sends ``SELECT 1`` before the first query of every request
that reuses a persistent connection: on the authorized API read that was one statement of
three, under load. Here a connection that served a request, without a database error, less
than `PROVEN_FOR` seconds ago skips that check; one idle for longer is checked as before.

What that gives up: a server restart inside that second fails the first query of one request
per connection, which then closes it (as Django does after any connection error), the same as
a restart between the check and the first query always could.
"""

from __future__ import annotations

import time

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper

PROVEN_FOR = 1.0  # seconds


class DatabaseWrapper(PostgresWrapper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.proven_at = float("-inf")
        self._used = False  # a cursor was taken since the last request boundary (or connect)

    def cursor(self):
        cursor = super().cursor()
        self._used = True
        return cursor

    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and not self.health_check_done
            and time.monotonic() - self.proven_at < PROVEN_FOR
        ):
            self.health_check_done = True  # checked, in effect, by the last request's queries
            return
        super().close_if_health_check_failed()

    def close_if_unusable_or_obsolete(self) -> None:  # at both ends of a request or task
        used_cleanly = self.connection is not None and self._used and not self.errors_occurred
        self._used = False
        super().close_if_unusable_or_obsolete()
        if used_cleanly and self.connection is not None:
            self.proven_at = time.monotonic()

    def connect(self) -> None:
        super().connect()
        self._used = False  # setting up the session took cursors: that is no request's use

    def close(self) -> None:
        self.proven_at = float("-inf")
        super().close()
