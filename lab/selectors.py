"""Reads of the lab app: a user's runs, one run's status, the scans a user may run tools on."""

from __future__ import annotations

import uuid

from django.urls import reverse

from lab.models import LabRun, RunStatus
from lab.permissions import SCAN_PURPOSE


def runs_of(user):
    """Each user sees only the runs they started (a run on a scan shows that scan's image)."""
    return LabRun.objects.filter(created_by=user).order_by("-created_at")


def run_of(user, run_id) -> LabRun | None:
    try:
        pk = uuid.UUID(str(run_id))
    except ValueError:
        return None
    return runs_of(user).filter(pk=pk).first()


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
