"""Model rows read and written on the hottest request path without the ORM's per-call compiling.

The ORM builds and compiles a query's SQL on every call: for the authorized API read that was
over a millisecond of its CPU time (`bench/profile_read.py`), against about 0.1 ms to send the
same SQL and build the instances. `Rows` writes its SELECT once per process and builds model
instances as the ORM does (`Model.from_db`, with each field's database converters), so the
instances are ordinary ones: related objects load lazily, `save()` works. `insert` sends one
plain INSERT per instance, with the ORM's own value preparation (`pre_save`, `get_db_prep_save`:
defaults, `auto_now_add`, UUIDs, JSON).

`Columns` and `read_joined` read several tables in ONE statement (a row and its related rows,
joined), building the same instances. Inserts only where no signal receiver listens: `insert`
sends no `pre_save`/`post_save` signal. `tests/core/test_rows.py` compares every field with
the ORM's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from django.db import connections, models, transaction

M = TypeVar("M", bound=models.Model)


class Columns(Generic[M]):
    """One model's columns in a SELECT, qualified by `alias` when the SELECT joins tables, and
    the instance that a row's slice of them builds (`Model.from_db`, with each field's database
    converters)."""

    def __init__(self, model: type[M], alias: str = "", *, using: str = "default") -> None:
        self.model, self.alias, self.using = model, alias, using
        self.fields = list(model._meta.concrete_fields)
        self.names = [f.attname for f in self.fields]
        self.width = len(self.fields)
        self._pk_index = self.fields.index(model._meta.pk)
        self._plan: tuple[str, list[tuple[int, list, Any]]] | None = None

    def _compiled(self) -> tuple[str, list[tuple[int, list, Any]]]:
        if self._plan is None:
            connection = connections[self.using]
            q = connection.ops.quote_name
            table = self.model._meta.db_table
            prefix = f"{q(self.alias)}." if self.alias else ""
            converters = []
            for i, field in enumerate(self.fields):
                col = field.get_col(table)
                found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if found:
                    converters.append((i, found, col))
            self._plan = (", ".join(prefix + q(f.column) for f in self.fields), converters)
        return self._plan

    def sql(self) -> str:
        """The select list: every concrete column, in field order."""
        return self._compiled()[0]

    def nulls(self) -> str:
        """As many NULLs as `sql()` has columns, this model's place in a UNION ALL branch that
        reads another table; typed on PostgreSQL, which types a union's column by its first
        branch."""
        connection = connections[self.using]
        if connection.vendor != "postgresql":
            return ", ".join(["NULL"] * self.width)
        return ", ".join(f"NULL::{f.cast_db_type(connection)}" for f in self.fields)

    def table(self) -> str:
        """``"table" "alias"`` for a FROM or JOIN clause (the bare table without an alias)."""
        q = connections[self.using].ops.quote_name
        name = q(self.model._meta.db_table)
        return f"{name} {q(self.alias)}" if self.alias else name

    def param(self, field_name: str, value: Any) -> Any:
        """`value` as the ORM sends it for `field_name` (a UUID is text on SQLite, for one)."""
        return self.model._meta.get_field(field_name).get_db_prep_value(value, connections[self.using])

    def key(self, row: Sequence, start: int = 0) -> Any:
        """The raw primary key in the slice at `start`: None where an outer join found no row."""
        return row[start + self._pk_index]

    def build(self, row: Sequence, start: int = 0) -> M:
        values = list(row[start : start + self.width])
        connection = connections[self.using]
        for i, funcs, col in self._compiled()[1]:
            for func in funcs:
                values[i] = func(values[i], col, connection)
        return self.model.from_db(self.using, self.names, values)


def read_joined(
    sql: str, params: Sequence, parts: Sequence[Columns], *, using: str = "default"
) -> list[list]:
    """Run ONE SELECT whose select list is each part's columns in turn; per part, its distinct
    instances by primary key in the order first seen (rows where its columns are NULL left
    out). The SELECT may be a join, or a UNION ALL of one branch per table whose other
    parts' columns are NULL (`Columns.nulls`): a join returns a row and its N and M related
    rows N x M times, the union each once."""
    with connections[using].cursor() as cursor:
        cursor.execute(sql, list(params))
        rows = cursor.fetchall()
    starts, at = [], 0
    for part in parts:
        starts.append(at)
        at += part.width
    out: list[list] = []
    for part, start in zip(parts, starts, strict=True):
        seen: dict[Any, Any] = {}
        for row in rows:
            key = part.key(row, start)
            if key is not None and key not in seen:
                seen[key] = part.build(row, start)
        out.append(list(seen.values()))
    return out


class Rows(Generic[M]):
    """``Rows(Scan, '"id" = %s', params=("id",)).first(scan_id)``: rows of one table matching a
    fixed WHERE clause (quoted column names, ``%s`` placeholders), in `order_by` order (SQL,
    optional). `params` names the field of each placeholder, whose value it prepares as the
    ORM would."""

    def __init__(
        self,
        model: type[M],
        where: str,
        *,
        params: tuple[str, ...],
        order_by: str = "",
        using: str = "default",
    ) -> None:
        if where.count("%s") != len(params):
            raise ValueError("one field name per %s placeholder")
        self.model, self.where, self.order_by, self.using = model, where, order_by, using
        self.columns = Columns(model, using=using)
        self._params = params
        self._sql: str | None = None

    def _compiled(self) -> str:
        if self._sql is None:
            # only the model's quoted names and the caller's constant clause (values are %s)
            sql = f"SELECT {self.columns.sql()} FROM {self.columns.table()} WHERE {self.where}"  # nosec B608
            if self.order_by:
                sql += f" ORDER BY {self.order_by}"
            self._sql = sql
        return self._sql

    def fetch(self, *params: Any, limit: int | None = None) -> list[M]:
        sql = self._compiled()
        if limit is not None:
            sql = f"{sql} LIMIT {int(limit)}"
        values = [self.columns.param(n, v) for n, v in zip(self._params, params, strict=True)]
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, values)
            rows = cursor.fetchall()
        return [self.columns.build(row) for row in rows]

    def first(self, *params: Any) -> M | None:
        found = self.fetch(*params, limit=1)
        return found[0] if found else None


_INSERTS: dict[tuple[type[models.Model], str], tuple[str, list, Any]] = {}


def _insert_plan(model: type[models.Model], using: str) -> tuple[str, list, Any]:
    """(INSERT without RETURNING, its fields, the serial id field or None), once per model."""
    key = (model, using)
    if key not in _INSERTS:
        q = connections[using].ops.quote_name
        meta = model._meta
        auto = meta.auto_field  # a serial id: the database numbers it, RETURNING gives it back
        fields = [f for f in meta.concrete_fields if not f.generated and f is not auto]
        # only the model's quoted names and %s placeholders are formatted in
        sql = (
            f"INSERT INTO {q(meta.db_table)} ({', '.join(q(f.column) for f in fields)})"  # nosec B608
            f" VALUES ({', '.join(['%s'] * len(fields))})"
        )
        _INSERTS[key] = (sql, fields, auto)
    return _INSERTS[key]


def _prepared(obj: models.Model, connection: Any, using: str) -> tuple[str, list, Any]:
    """The row's INSERT, its values as the ORM prepares them (pre_save, get_db_prep_save),
    and its serial id field."""
    sql, fields, auto = _insert_plan(type(obj), using)
    if auto is not None and getattr(obj, auto.attname) is not None:
        raise ValueError(f"{type(obj).__name__}: its serial id is the database's to number")
    return sql, [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields], auto


def _saved(obj: models.Model, auto: Any, pk: Any, using: str) -> None:
    if auto is not None:
        setattr(obj, auto.attname, pk)
    obj._state.adding = False
    obj._state.db = using


def insert(objs: Sequence[models.Model], *, using: str = "default") -> None:
    """INSERT each instance as a new row (``save(force_insert=True)`` without the signals)."""
    connection = connections[using]
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        for obj in objs:
            sql, values, auto = _prepared(obj, connection, using)
            cursor.execute(sql + (f" RETURNING {q(auto.column)}" if auto is not None else ""), values)
            _saved(obj, auto, cursor.fetchone()[0] if auto is not None else None, using)


def prefetched(instance: models.Model, related_name: str, rows: list) -> None:
    """Hand `rows` to `instance` as its prefetched reverse relation `related_name`, as
    ``prefetch_related`` leaves it: ``instance.<related_name>.all()`` then reads no row."""
    qs = getattr(instance, related_name).get_queryset()
    qs._result_cache = rows
    qs._prefetch_done = True
    instance.__dict__.setdefault("_prefetched_objects_cache", {})[related_name] = qs


def insert_at_once(objs: Sequence[models.Model], *, using: str = "default") -> None:
    """INSERT the instances, of one or several models, all or none.

    On PostgreSQL as ONE statement (each INSERT a data-modifying WITH query): atomic on its
    own, so outside a transaction it needs no BEGIN and COMMIT round trips, and inside one it
    is part of it. Elsewhere (SQLite) the plain inserts in a transaction (or the caller's)."""
    connection = connections[using]
    if connection.vendor != "postgresql" or len(objs) < 2:
        with transaction.atomic(using=using, savepoint=False):
            insert(objs, using=using)
        return
    q = connection.ops.quote_name
    parts, selects, values, autos = [], [], [], []
    # only the models' quoted names and %s placeholders are formatted in (bandit B608)
    for i, obj in enumerate(objs):
        sql, row, auto = _prepared(obj, connection, using)
        pk, name = q((auto or type(obj)._meta.pk).column), q(f"i{i}")
        parts.append(f"{name} AS ({sql} RETURNING {pk})")
        selects.append(f"(SELECT {pk} FROM {name})")  # nosec B608
        values += row
        autos.append(auto)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT {', '.join(selects)}", values)  # nosec B608
        returned = cursor.fetchone()
    for obj, auto, pk in zip(objs, autos, returned, strict=True):
        _saved(obj, auto, pk, using)
