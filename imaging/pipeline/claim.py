"""A delivery claims its scan: ONE UPDATE counts the delivery, records the claim and
returns the scan (see `imaging.pipeline.leases` for heartbeats and the sweep)."""

from __future__ import annotations

import functools
import uuid
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from imaging.models import Scan, ScanWorker
from imaging.pipeline import leases
from imaging.pipeline.status import DONE, FAILED, PREPROCESSING, QUEUED


@functools.lru_cache(maxsize=1)
def _count_delivery_sql() -> tuple[str, list[str]]:
    q = connection.ops.quote_name
    opts = Scan._meta
    status, claimed_by = q("status"), q("claimed_by")
    columns = ", ".join(q(f.column) for f in opts.concrete_fields)
    # only quoted names from the model and %s placeholders are formatted in (bandit B608)
    sql = (
        f"UPDATE {q(opts.db_table)} SET {q('attempts')} = {q('attempts')} + 1, {q('updated_at')} = %s, "  # nosec B608
        f"{q('claim')} = %s, {claimed_by} = %s, "
        f"{status} = CASE WHEN {status} = %s THEN %s ELSE {status} END "
        f"WHERE {q(opts.pk.column)} = %s AND {status} NOT IN (%s, %s) "
        # unclaimed; or claimed earlier by this process, which is not working on it now; or
        # claimed by a worker process whose heartbeat stopped
        f"AND ({q('claim')} IS NULL OR {claimed_by} = %s OR {claimed_by} NOT IN "
        f"(SELECT {q('name')} FROM {q(ScanWorker._meta.db_table)} WHERE {q('last_seen')} >= %s)) "
        f"RETURNING {columns}"
    )
    return sql, [QUEUED, PREPROCESSING]


def count_delivery(scan_id: Any, *, own: bool | None = None) -> Scan | None:
    """Claim the scan for this delivery, count the delivery and, if nothing is done yet,
    show `preprocessing`: ONE UPDATE that returns the scan as it now is, or None if it is
    done, failed, gone or held by another live delivery. This process's heartbeat is
    written first when one is due (the claim's holder must be seen alive by the sweepers).

    `own`: whether an earlier claim of this process on the scan is stale (True unless a
    delivery of this process works on it now)."""
    if leases.beat_due():
        leases.beat()
    sql, status_params = _count_delivery_sql()
    opts = Scan._meta
    now = timezone.now()
    me = leases.identity()
    if own is None:
        own = not leases.running_here(scan_id)
    own_name = me if own else ""  # "" matches no claim
    db_now = opts.get_field("updated_at").get_db_prep_save(now, connection)
    cutoff = opts.get_field("updated_at").get_db_prep_save(
        now - timedelta(seconds=leases.HOLDER_TIMEOUT), connection
    )
    token = opts.get_field("claim").get_db_prep_save(uuid.uuid4(), connection)
    pk = opts.pk.get_db_prep_value(opts.pk.to_python(scan_id), connection)
    final = [DONE, FAILED]
    with connection.cursor() as cursor:
        cursor.execute(sql, [db_now, token, me, *status_params, pk, *final, own_name, cutoff])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for field, value in zip(opts.concrete_fields, row, strict=True):
        col = field.get_col(opts.db_table)
        for convert in [*connection.ops.get_db_converters(col), *field.get_db_converters(connection)]:
            value = convert(value, col, connection)
        values.append(value)
    scan: Scan = Scan.from_db(connection.alias, [f.attname for f in opts.concrete_fields], values)
    return scan
