"""Several SQL statements per database round trip (PostgreSQL pipeline mode).

A scan's pipeline runs about twenty small statements. Under load, each round trip waits
for the PostgreSQL backend to be scheduled on a busy CPU, and those waits were over a third
of the worker's main thread (py-spy, 1 worker under load). Inside ``with batch():``, statements issued with `send`, `send_query`
and `insert` are sent at once. Their results come back together when the block ends: one
round trip for the lot, and any error is raised there. Read the results after the block.

Outside PostgreSQL (SQLite, the embedded default), the same calls simply run one after
another, so results can be read either way. Correctness never depends on batching:

* an ORM call inside a block that reads its result (``.first()``, a RETURNING insert) still
  works, but waits for everything sent so far, which costs a round trip;
* a block inside ``transaction.atomic()`` is part of that transaction. psycopg's BEGIN is one
  round trip of its own (it waits for it); the COMMIT is one too, unless the transaction's
  last statements are sent with `last_batch`, which sends the COMMIT with them.

Built on psycopg's pipeline mode (https://www.psycopg.org/psycopg3/docs/advanced/pipeline.html).
"""

from __future__ import annotations

import secrets
import threading
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.core.exceptions import EmptyResultSet
from django.db import connection


@contextmanager
def batch():
    """Send the statements issued inside at once, then wait once for all their results."""
    if connection.vendor != "postgresql":
        yield
        return
    # the per-task/per-request health check must really run (in pipeline mode its SELECT 1
    # would be queued and "succeed" unread), and the connection must exist before the
    # pipeline is entered on it
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        with connection.wrap_database_errors, connection.connection.pipeline():
            yield
    finally:
        _local.depth -= 1


@contextmanager
def last_batch():
    """`batch` for the last statements of an outermost ``transaction.atomic()`` block: the
    COMMIT is sent after them in the same round trip, and the block's own commit then finds
    nothing to do (psycopg skips COMMIT when no transaction is open). It must be the block's
    last database work: a statement after it would run in a new transaction.

    An error in the batch, the COMMIT's included (deferred foreign keys are checked then), is
    raised when it ends and the whole transaction is rolled back, as with any batch. Inside a
    nested block (a savepoint, or a caller's transaction) and on SQLite it is a plain `batch`:
    the transaction commits when its outermost block ends, as usual."""
    with batch():
        yield
        if _outermost_transaction():
            send("COMMIT")


def _outermost_transaction() -> bool:
    return (
        connection.vendor == "postgresql"
        and connection.in_atomic_block
        and len(connection.atomic_blocks) == 1
        and connection.commit_on_exit
        and not connection.savepoint_ids
        and not connection.needs_rollback
    )


_local = threading.local()  # how many batches this thread is in (connections are per thread)


def _batching() -> bool:
    return getattr(_local, "depth", 0) > 0


class Sent:
    """A statement sent by `send`: its rows, once its batch has ended."""

    def __init__(self, sql: str, params, compiler=None) -> None:
        self._compiler = compiler
        self._cursor = connection.cursor()
        self._cursor.execute(sql, params)
        self._rows = None
        if not _batching():
            # read now: an open SQLite statement would block a rollback to a savepoint
            # if the caller failed before reading it
            self._rows = self._fetch()

    @classmethod
    def empty(cls) -> Sent:
        """A statement that matches nothing and was not sent."""
        sent = cls.__new__(cls)
        sent._compiler, sent._cursor, sent._rows = None, None, []
        return sent

    def _fetch(self) -> list:
        try:
            return self._cursor.fetchall() if self._cursor.description is not None else []
        finally:
            self._cursor.close()

    def rows(self) -> list[tuple]:
        """All rows (with the ORM's converters applied for a `send_query`); read again, the
        same rows."""
        if self._rows is None:
            self._rows = self._fetch()
        if self._compiler is not None:  # converted once
            self._rows = list(self._compiler.results_iter([self._rows], tuple_expected=True))
            self._compiler = None
        return self._rows

    def row(self) -> tuple | None:
        """The first row, or None."""
        rows = self.rows()
        return rows[0] if rows else None


def send(sql: str, params=()) -> Sent:
    """Execute raw SQL now; read its rows after the batch."""
    return Sent(sql, params)


def send_query(queryset) -> Sent:
    """Execute a ``values_list()`` queryset now; read its rows, as tuples, after the batch."""
    compiler = queryset.query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:  # e.g. ``pk__in=[]``: the ORM sends nothing and returns no rows
        return Sent.empty()
    return Sent(sql, params, compiler)


class Template:
    """A ``values_list()`` query compiled once per process, then sent with new parameter
    values: Django compiles a queryset on every use (0.1-1 ms each for the scan pipeline's
    reads, a few ms per scan in all), while its SQL and result converters only depend on its
    shape. `build(**values)` makes the queryset; every value must be a UUID or a timezone-aware
    datetime. To find where each one goes, the query is compiled once with fresh random
    values of the same kinds in their place. If a value is of another kind, or one of them
    is not found as a parameter of its own (used in a pattern, or converted to text as on
    SQLite, say), the template compiles on every use, as `send_query` does. `build` must use
    each value whole: a part of one (``str(v)[:8]``, ``at.date()``) would not be found and
    would stay the first compile's."""

    def __init__(self, build) -> None:
        self._build = build
        self._compiled: dict[tuple, tuple] = {}  # (alias, value kinds) -> (sql, params, slots, compiler)

    def _compile(self, kinds: tuple[tuple[str, type], ...]):
        markers = {name: _marker(kind) for name, kind in kinds}
        queryset = self._build(**markers)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        slots = {  # name -> [(index, how the value appears there)]
            name: [(i, form) for i, p in enumerate(params) if (form := _form(p, m))]
            for name, m in markers.items()
        }
        found = {i for places in slots.values() for i, _form in places}
        elsewhere = any(  # a value also used in another form (e.g. in a LIKE pattern)
            i not in found and isinstance(p, str) and any(_appears_in(p, m) for m in markers.values())
            for i, p in enumerate(params)
        )
        if not all(slots.values()) or elsewhere:
            return None
        return sql, list(params), slots, compiler

    def send(self, **values) -> Sent:
        """`send_query` of ``build(**values)``."""
        markable = _as_markable(values)
        if markable is None:
            return send_query(self._build(**values))
        kinds = tuple(sorted((name, type(value)) for name, value in markable.items()))
        compiled = self._compiled.get((connection.alias, kinds))
        if compiled is None:
            compiled = self._compiled[(connection.alias, kinds)] = self._compile(kinds) or ()
        if not compiled:
            return send_query(self._build(**values))
        sql, params, slots, compiler = compiled
        params = list(params)
        for name, value in markable.items():
            for i, form in slots[name]:
                params[i] = form(value)
        return Sent(sql, params, compiler)


def _as_markable(values: dict) -> dict | None:
    """`values` with UUIDs given as text made UUIDs; None if one is neither a UUID nor an
    aware datetime."""
    out = {}
    for name, value in values.items():
        if isinstance(value, uuid.UUID) or (isinstance(value, datetime) and value.utcoffset() is not None):
            out[name] = value
            continue
        try:
            out[name] = uuid.UUID(str(value))
        except ValueError:
            return None
    return out


def _marker(kind: type):
    """A fresh random value of `kind` (a UUID or an aware datetime) that no query holds."""
    if issubclass(kind, uuid.UUID):
        return uuid.uuid4()
    # a random microsecond within ~35 years: unique for the purpose, valid in every backend
    return datetime(1990, 1, 1, tzinfo=UTC) + timedelta(microseconds=secrets.randbelow(2**50))


def _appears_in(text: str, marker) -> bool:
    """Whether `marker` (or its date and time to the second) is written in `text`."""
    if isinstance(marker, uuid.UUID):
        return marker.hex in text.replace("-", "")
    return marker.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") in text.replace("T", " ")


def _form(param, marker):
    """How `marker` appears as the compiled parameter `param` (as itself or, for a UUID, its
    text as the database backend stores it), as a function of a new value; None if `param`
    is not it."""
    forms = (lambda v: v, lambda u: u.hex, str) if isinstance(marker, uuid.UUID) else (lambda v: v,)
    for form in forms:
        if type(param) is type(form(marker)) and param == form(marker):
            return form
    return None


def insert(model, objs: list) -> None:
    """INSERT `objs` in one statement without RETURNING, so a batch does not wait for it
    (``bulk_create`` reads back auto-increment ids, which costs a round trip). The objects'
    auto ids stay unset. Integrity errors are raised when the batch ends."""
    if not objs:
        return
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.generated and f is not opts.auto_field]
    for obj in objs:
        if obj.pk is None and opts.auto_field is None:
            obj.pk = opts.pk.get_pk_value_on_save(obj)  # a default such as uuid4
        obj._prepare_related_fields_for_save(operation_name="insert")
    model._base_manager._insert(objs, fields=fields, using=connection.alias)
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias
