"""Auditors: one emergency (break-glass) access under review: who, whose record, why, every
access made under it (allowed or refused, which scan, when), and the sign-off with a finding
(justified / unjustified) and a note. The queue and the sign-off POST are in views_consent."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from imaging import consent_port
from portal.forms import ReviewForm
from portal.models import AccessEvent, BreakGlass, Role

MAX_ROWS = 500


@login_required
@require_GET
def breakglass_review_page(request, pk):
    if request.user.role != Role.AUDITOR:
        raise PermissionDenied("Only auditors review emergency access.")
    bg = get_object_or_404(BreakGlass.objects.select_related("clinician", "patient", "reviewed_by"), pk=pk)
    events = list(AccessEvent.objects.filter(breakglass=bg).select_related("actor").order_by("at")[:MAX_ROWS])
    labels: dict = {}
    for e in events:
        if e.scan_id and e.scan_id not in labels:
            scan = consent_port.scan_for_decision(e.scan_id)
            labels[e.scan_id] = consent_port.scan_label(scan) if scan is not None else "a deleted scan"
        e.scan_label = labels.get(e.scan_id, "")
    return render(
        request,
        "portal/breakglass_review.html",
        {"bg": bg, "events": events, "truncated": len(events) == MAX_ROWS, "form": ReviewForm()},
    )
