"""Celery task of the lab: run one simulation, record progress, result and figure.

The message carries the run id only. A redelivered message (acks_late, worker lost) finds a
finished run and does nothing; an attempt counter stops a run that keeps killing workers.
"""

from __future__ import annotations

import logging

import numpy as np
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lab import tools
from lab.models import LabRun, RunStatus
from lab.permissions import SCAN_PURPOSE
from quantum import QuantumParamError

log = logging.getLogger(__name__)

SOFT_LIMIT = 90
HARD_LIMIT = 120
MAX_ATTEMPTS = 3


class RunRefused(Exception):
    """A permanent, explainable failure (message shown to the user)."""


def _set(run_id, **fields) -> None:
    LabRun.objects.filter(pk=run_id).update(**fields)


def _claim(run_id) -> LabRun | None:
    with transaction.atomic():
        run = LabRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.finished:
            return None
        run.attempts += 1
        if run.attempts > MAX_ATTEMPTS:
            run.status = RunStatus.FAILED
            run.message = f"Stopped after {MAX_ATTEMPTS} attempts (the worker was lost each time)."
            run.finished_at = timezone.now()
            run.save(update_fields=["attempts", "status", "message", "finished_at"])
            return None
        run.status = RunStatus.RUNNING
        run.progress = 5
        run.message = "Started."
        run.started_at = timezone.now()
        run.save(update_fields=["attempts", "status", "progress", "message", "started_at"])
        return run


def scan_image(run: LabRun) -> np.ndarray:
    """The scan's preprocessed 128x128 matrix as 8-bit, decrypted with the key wrapped for the
    run's owner (portal.keys.unwrap_for via imaging.pipeline.read_object), after the policy
    decision point still allows it (consent may have been revoked since the run was queued)."""
    from imaging import blobs, preprocess
    from imaging.models import ObjectKind, ScanObject
    from imaging.pipeline import read_object
    from imaging.selectors import scan_by_id
    from portal.access import authorize
    from portal.keys import KeyAccessError

    reader = run.created_by
    scan = scan_by_id(run.params.get("scan_id"))
    if scan is None or scan.uploaded_by_id != reader.pk:
        raise RunRefused("The scan is no longer available.")
    decision = authorize(actor=reader, action="view", scan=scan, purpose=SCAN_PURPOSE, record=False)
    if not decision.allowed:
        raise RunRefused(f"Access to the scan was withdrawn: {decision.message}")
    obj = ScanObject.objects.filter(scan=scan, kind=ObjectKind.MATRIX).order_by("-version").first()
    if obj is None:
        raise RunRefused("The scan has no preprocessed matrix.")
    try:
        data = read_object(obj, reader=reader, store=blobs.store())
    except KeyAccessError:
        raise RunRefused("You hold no decryption key for this scan (consent may have changed).") from None
    except Exception as exc:  # noqa: BLE001 - integrity / storage: never show a damaged image
        raise RunRefused(f"The scan's matrix could not be read ({type(exc).__name__}).") from None
    return tools.to_uint8(preprocess.matrix_from_bytes(data))


@shared_task(
    bind=True,
    name="lab.execute_run",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SOFT_LIMIT,
    time_limit=HARD_LIMIT,
    ignore_result=True,
)
def execute_run(self, run_id: str) -> str:
    run = _claim(run_id)
    if run is None:
        return "skipped"

    def progress(pct: int, message: str) -> None:
        _set(run_id, progress=max(5, min(99, int(pct))), message=message[:500])

    try:
        image = None
        if run.params.get("source") == "scan":
            progress(8, "decrypting the scan's 128×128 matrix")
            image = scan_image(run)
        res, png = tools.run_tool(
            run.tool, run.params, image=image, progress=progress, tmp_root=settings.VAR_DIR / "lab" / "tmp"
        )
    except (RunRefused, QuantumParamError) as exc:
        return _fail(run_id, str(exc))
    except SoftTimeLimitExceeded:
        return _fail(run_id, f"The simulation took longer than {SOFT_LIMIT} s and was stopped.")
    except Exception as exc:  # noqa: BLE001 - deterministic: a retry would fail the same way
        log.exception("lab run %s failed", run_id)
        return _fail(run_id, f"Internal error in the simulation ({type(exc).__name__}).")
    within = [r["within"] for r in res["comparison"] if r["within"] is not None]
    summary = f"Done: {sum(within)} of {len(within)} checked quantities within their target."
    _set(
        run_id,
        status=RunStatus.DONE,
        progress=100,
        message=summary,
        result=res,
        figure_png=run.seal_figure(png),
        finished_at=timezone.now(),
    )
    return "done"


def _fail(run_id, message: str) -> str:
    _set(run_id, status=RunStatus.FAILED, message=message[:500], finished_at=timezone.now())
    return "failed"
