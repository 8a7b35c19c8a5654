"""A scan's status, moved forward by one conditional UPDATE; the pipeline's ids and errors.

queued -> preprocessing -> diagnosing -> encrypting -> storing -> recording -> done (or
failed with a reason). A status never moves back and never leaves ``failed``; every UPDATE
of a delivery that holds the scan's claim (`imaging.pipeline.claim`) is fenced on its token.
"""

from __future__ import annotations

import functools
import logging
import uuid
from typing import Any

from django.db import connection
from django.utils import timezone

from imaging.models import Scan

log = logging.getLogger(__name__)

NAMESPACE = uuid.UUID("6b1d51a4-3f7e-4f0e-9d4e-7d0f0a3c5e21")
# `ScanStatus` and `ObjectKind` values as plain strings, in order (a test checks them against
# the models' choices; without Django's stubs mypy takes the choices' members for tuples)
STEPS = ("queued", "preprocessing", "diagnosing", "encrypting", "storing", "recording", "done")
QUEUED, PREPROCESSING, DIAGNOSING, ENCRYPTING, STORING, RECORDING, DONE = STEPS
FAILED = "failed"
STEP_INDEX = {s: i for i, s in enumerate(STEPS)}
ORIGINAL, PREVIEW, MATRIX = "original", "preview", "matrix"
DERIVED_KINDS = (PREVIEW, MATRIX)
SALIENCY = "saliency"  # optional: only for a scan the applicability gate let through
OPTIONAL_KINDS = (SALIENCY,)


class PipelineFailure(Exception):
    """A permanent failure: the scan becomes `failed` with this message (no retry)."""


class ClaimLost(Exception):
    """Another delivery holds the scan now (this one's worker was taken for dead): this
    delivery stops without writing anything more."""


def derived_object_id(scan_id: Any, kind: str, version: int = 1) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{scan_id}/{kind}/{version}")


def ledger_event_id(scan_id: Any) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"scan.registered/{scan_id}")


def before(status: str, target: str) -> bool:
    return STEP_INDEX.get(status, 99) < STEP_INDEX[target]


@functools.lru_cache(maxsize=64)
def _advance_sql(
    target: str, names: tuple[str, ...], unless_there: bool, fenced: bool
) -> tuple[str, list[str]]:
    """(SQL, leading params) of `advance`'s UPDATE for these field names: the ORM's
    ``update()`` cannot return the status the row ends with, which a delivery needs (a
    concurrent one may be further on). Plain SQL that PostgreSQL and SQLite (3.35+) accept."""
    q = connection.ops.quote_name
    opts = Scan._meta
    earlier = [s for s, i in STEP_INDEX.items() if i < STEP_INDEX[target]]
    sets = ", ".join(f"{q(opts.get_field(n).column)} = %s" for n in (*names, "updated_at"))
    status = q("status")
    fence = f"AND {q('claim')} = %s " if fenced else ""  # only while this delivery holds the claim
    # only quoted names from the model and %s placeholders are formatted in (bandit B608)
    sql = (
        f"UPDATE {q(opts.db_table)} SET {sets}, {status} = CASE WHEN {status} IN "  # nosec B608
        f"({', '.join(['%s'] * len(earlier))}) THEN %s ELSE {status} END "
        f"WHERE {q(opts.pk.column)} = %s AND {status} NOT IN ({'%s, %s' if unless_there else '%s'}) "
        f"{fence}RETURNING {status}"
    )
    return sql, [*earlier, target]


def advance(scan: Scan, target: str, *, unless_there: bool = False, **fields: Any) -> bool:
    """Set `fields` and move the status forward to `target` (never back, never out of
    `failed`) in ONE conditional UPDATE, and mirror the change, and the status the row now
    has, on `scan`. Fenced on `scan.claim` when the scan was claimed (`claim.count_delivery`).

    `unless_there`: change nothing if the scan is at `target` already, and return False
    (True otherwise). PipelineFailure if the scan was marked failed; ClaimLost if another
    delivery holds it now."""
    now = timezone.now()
    names = tuple(sorted(fields))
    token = scan.claim
    sql, status_params = _advance_sql(target, names, unless_there, token is not None)
    opts = Scan._meta
    values = [
        opts.get_field(n).get_db_prep_save(v, connection)
        for n, v in [*((n, fields[n]) for n in names), ("updated_at", now)]
    ]
    pk = opts.pk.get_db_prep_value(scan.pk, connection)
    excluded = [FAILED, *([target] if unless_there else [])]
    fence = [] if token is None else [opts.get_field("claim").get_db_prep_save(token, connection)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *status_params, pk, *excluded, *fence])
        row = cursor.fetchone()
    if row is None:
        status, reason, claim = Scan.objects.filter(pk=scan.pk).values_list(
            "status", "failure_reason", "claim"
        ).first() or (None, "", None)
        if unless_there and status == target:
            scan.status = status
            return False
        if token is not None and status not in (FAILED, None) and claim != token:
            raise ClaimLost(f"scan {scan.pk} is held by another delivery now")
        raise PipelineFailure(reason or "the scan was marked failed")
    for k, v in fields.items():
        setattr(scan, k, v)
    scan.updated_at = now
    scan.status = row[0]  # `target`, or a later status a concurrent delivery reached
    return True


def mark_failed(scan_id: Any, reason: str) -> None:
    changed = (
        Scan.objects.filter(pk=scan_id)
        .exclude(status=DONE)
        .update(
            status=FAILED,
            failure_reason=reason[:300],
            updated_at=timezone.now(),
            claim=None,
            claimed_by="",
        )
    )
    if changed:
        log.info("scan %s failed: %s", scan_id, reason)
