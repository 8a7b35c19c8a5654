"""Writes of the lab app: start a run (validated, saved, enqueued on commit)."""

from __future__ import annotations

import logging

from django.db import transaction

from lab import tools
from lab.models import LabRun
from lab.permissions import SCAN_PURPOSE, can_use_lab

log = logging.getLogger(__name__)


class LabError(Exception):
    """A refused request: `message` for people, `status_code` for the API, `field` if one field."""

    def __init__(self, message: str, status_code: int = 400, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.field = field


def _check_scan(*, user, scan_id: str):
    """The scan must be one the user uploaded, processed, and viewable for research under the
    policy. The decision is recorded (access history + ledger) by portal.access.authorize."""
    from imaging.models import ObjectKind, ScanObject, ScanStatus
    from imaging.selectors import scan_by_id
    from portal.access import authorize

    scan = scan_by_id(scan_id)
    if scan is None or scan.uploaded_by_id != user.pk:
        raise LabError("scan_id must be the id of one of your own scans.", 400, "scan_id")
    if scan.status != ScanStatus.DONE:
        raise LabError("That scan has not finished processing yet.", 400, "scan_id")
    if not ScanObject.objects.filter(scan=scan, kind=ObjectKind.MATRIX).exists():
        raise LabError("That scan has no preprocessed 128×128 matrix.", 400, "scan_id")
    decision = authorize(actor=user, action="view", scan=scan, purpose=SCAN_PURPOSE)
    if not decision.allowed:
        raise LabError(f"You may not use this scan for research: {decision.message}", 403, "scan_id")
    return scan


def lab_run_start(*, user, tool: str, params: dict | None) -> LabRun:
    """Validate, save a queued run and enqueue it when the transaction commits."""
    if not can_use_lab(user):
        raise LabError("The quantum lab is for clinicians, auditors and administrators.", 403)
    try:
        clean = tools.clean_params(tool, params)
    except tools.LabParamError as exc:
        raise LabError(exc.message, 400, exc.field) from None
    if clean.get("source") == "scan":
        _check_scan(user=user, scan_id=clean["scan_id"])
    with transaction.atomic():
        run = LabRun.objects.create(tool=tool, params=clean, created_by=user, message="Waiting for a worker.")
        transaction.on_commit(lambda: _enqueue(run.id))
    return run


def _enqueue(run_id) -> None:
    from lab.tasks import execute_run

    try:
        execute_run.apply_async(args=[str(run_id)], retry=True, retry_policy={"max_retries": 2})
    except Exception:  # noqa: BLE001 - the run stays queued; the page says so
        log.warning("could not enqueue lab run %s", run_id, exc_info=True)
