"""Reads of the lab app: a user's runs, one run's status, the scans a user may run tools on."""

from __future__ import annotations

import uuid

from django.urls import reverse

from lab.models import LabRun, RunStatus
from lab.permissions import SCAN_PURPOSE


def runs_of(user):
    """Each user sees only the runs they started (a run on a scan shows that scan's image)."""
    return LabRun.objects.filter(created_by=user).order_by("-created_at")


def listed_runs_of(user):
    """The user's runs for a list, less those made from a scan the policy no longer lets them
    view (a listed run's message and figure link come from its scan). Listing is not recorded,
    like imaging's lists; opening a run is."""
    from imaging.models import Scan
    from portal.access import authorize

    runs = runs_of(user)
    scan_ids = set(runs.filter(params__source="scan").values_list("params__scan_id", flat=True))
    scans = Scan.objects.select_related("patient").in_bulk(
        [pk for pk in map(_uuid_or_none, scan_ids) if pk is not None]
    )
    viewable = {
        str(pk)
        for pk, scan in scans.items()
        if authorize(actor=user, action="view", scan=scan, purpose=SCAN_PURPOSE, record=False).allowed
    }
    refused = [s for s in scan_ids if str(_uuid_or_none(s)) not in viewable]
    if not refused:
        return runs
    # by primary key: a simulation has no scan_id, and NOT (NULL IN ...) would drop it too
    return runs.exclude(pk__in=LabRun.objects.filter(params__scan_id__in=refused).values("pk"))


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def run_of(user, run_id) -> LabRun | None:
    pk = _uuid_or_none(run_id)
    return None if pk is None else runs_of(user).filter(pk=pk).first()


def status_of(run: LabRun) -> dict:
    out = {
        "id": str(run.id),
        "tool": run.tool,
        "tool_label": run.get_tool_display(),
        "params": run.params,
        "status": run.status,
        "status_label": run.get_status_display(),
        "progress": run.progress,
        "message": run.message,
        "done": run.status == RunStatus.DONE,
        "failed": run.status == RunStatus.FAILED,
        "simulated": True,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "page_url": reverse("lab:run", args=[run.id]),
        "status_url": reverse("lab:status", args=[run.id]),
        "figure_url": reverse("lab-api:run-figure", args=[run.id]) if run.figure_png else None,
    }
    return out


def lab_scans_for(user) -> list:
    """Done scans the user uploaded and may still view for research (policy decides; listing is
    not recorded — starting a run on one is)."""
    from imaging.models import Scan, ScanStatus
    from portal.access import authorize

    scans = (
        Scan.objects.filter(uploaded_by=user, status=ScanStatus.DONE)
        .select_related("patient")
        .order_by("-created_at")[:50]
    )
    return [
        s
        for s in scans
        if authorize(actor=user, action="view", scan=s, purpose=SCAN_PURPOSE, record=False).allowed
    ]
