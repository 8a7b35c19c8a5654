"""The ledger explorer: checkpoints with their witnesses' cosignatures, entries by type and
time, one entry with its inclusion proof, and "verify now" with progress.

Reading is public, like the status page and the ledger API (the entries carry no health
data). Starting a verification, and polling it, is for auditors and administrators.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from ledger import explorer_selectors, verify_jobs
from ledger.selectors import tree_size

PER_PAGE = 25
RECENT_CHECKPOINTS = 10


def _may_verify(user) -> bool:
    return user.is_authenticated and (user.is_auditor or user.is_portal_admin)


def _date(value: str) -> str:
    """A YYYY-MM-DD filter value, or '' when absent or malformed (the form shows it cleared)."""
    try:
        return dt.date.fromisoformat(value).isoformat() if value else ""
    except ValueError:
        return ""


@require_GET
def explorer(request):
    from federation.selectors import recent_checkpoints

    types = explorer_selectors.event_types()
    event_type = request.GET.get("type", "")
    if event_type not in types:
        event_type = ""
    since, until = _date(request.GET.get("since", "")), _date(request.GET.get("until", ""))
    page = Paginator(
        explorer_selectors.entries(event_type=event_type, since=since, until=until), PER_PAGE
    ).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    job = request.GET.get("verify", "")
    ctx = {
        "size": tree_size(),
        "checkpoints": recent_checkpoints(RECENT_CHECKPOINTS),
        "types": types,
        "filters": {"type": event_type, "since": since, "until": until},
        "page": page,
        "query": query.urlencode(),
        "may_verify": _may_verify(request.user),
        "last_verify": verify_jobs.last() if _may_verify(request.user) else None,
        "job": job if _may_verify(request.user) and verify_jobs.status(job) is not None else "",
    }
    if ctx["job"]:
        ctx["job_status"] = verify_jobs.status(job)
    return render(request, "ledger/explorer.html", ctx)


@require_GET
def entry(request, index: int):
    view = explorer_selectors.entry_view(index)
    if view is None:
        raise Http404("No ledger entry with that number.")
    return render(request, "ledger/entry.html", {"v": view, "size": tree_size()})


@login_required
@require_POST
def verify_start(request):
    if not _may_verify(request.user):
        raise PermissionDenied("Only auditors and administrators start a verification.")
    job = verify_jobs.start()
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(
            {"job": job, "status_url": reverse("ledger:verify-status", args=[job])}, status=202
        )
    return redirect(f"{reverse('ledger:explorer')}?verify={job}#verify")


@login_required
@require_GET
def verify_status(request, job: str):
    if not _may_verify(request.user):
        raise PermissionDenied("Only auditors and administrators see verification jobs.")
    st = verify_jobs.status(job)
    if st is None:
        raise Http404("No such verification job.")
    return JsonResponse(st)
