"""The patient's access history (plain words, filters, pages) and the receipt of one access:
an HTML page that says what was verified and how (the inclusion proof is checked again in the
browser, static/js/receipt_verify.js), with the JSON receipt as a download."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from portal import consent_selectors, history_selectors
from portal.access import authorize
from portal.consent_text import when
from portal.forms import HistoryFilterForm, TimeZoneForm
from portal.models import AccessEvent, BreakGlass, Role


@login_required
def access_history(request):
    if request.user.role != Role.PATIENT:
        raise PermissionDenied("The access history is the patient's own page.")
    patient = request.user
    form = HistoryFilterForm(request.GET or None, actors=history_selectors.actors_of(patient))
    filters, status = history_selectors.Filters(), 200
    if request.GET and not form.is_valid():
        status = 400
    elif form.is_bound:
        data = form.cleaned_data
        filters = history_selectors.Filters(
            who=data.get("who") or "",
            since=data.get("since"),
            until=data.get("until"),
            outcome=data.get("outcome") or "",
        )
    page = history_selectors.history_page(patient, filters, page=request.GET.get("page", 1))
    events = page.object_list
    statuses = consent_selectors.receipt_statuses([e.ledger_event_id for e in events if e.ledger_event_id])
    for event in events:
        event.receipt_status = statuses.get(event.ledger_event_id, "")
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "portal/access_history.html",
        {
            "form": form,
            "page": page,
            "events": events,
            "query": query.urlencode(),
            "filtered": any(filters.__dict__.values()),
            "breakglass": BreakGlass.objects.filter(patient=patient).select_related("clinician")[:50],
            "notifications": patient.notifications.all()[:20],
        },
        status=status,
    )


def _own_event(request, pk) -> AccessEvent:
    """The access event `pk` if the policy lets the user see its patient's history (today: the
    patient alone); 404 for everyone else, as for an unknown event."""
    event = AccessEvent.objects.filter(pk=pk).select_related("patient", "actor__organisation").first()
    if event is None or event.ledger_event_id is None:
        raise Http404("No such access in your history.")
    decision = authorize(actor=request.user, action="view_history", patient=event.patient, record=False)
    if not decision.allowed:
        raise Http404("No such access in your history.")
    return event


def _receipt(event: AccessEvent) -> dict | None:
    from ledger.selectors import receipt_for_event

    return receipt_for_event(event.ledger_event_id, with_openings=True)


@login_required
def receipt_page(request, pk):
    from ledger.models import Checkpoint
    from ledger.selectors import verifiers
    from ledger.verify_offline import verify_receipt

    event = _own_event(request, pk)
    receipt = _receipt(event)
    ctx = {
        "event": event,
        "who": history_selectors.who_words(event.actor, event.patient),
        "receipt": receipt,
        "json_url": reverse("access-receipt-json", args=[event.pk]),
    }
    if receipt is not None:
        index = receipt["entry"]["index"]
        signed = (
            Checkpoint.objects.filter(tree_size=receipt["tree_size"])
            .order_by("-id")
            .values_list("created_at", flat=True)
            .first()
        )
        try:
            verify_receipt(receipt, verifiers())
            server_ok = True
        except Exception:  # noqa: BLE001 - any failure is shown as "failed"
            server_ok = False
        ctx.update(
            entry_number=f"{index + 1:,}",
            index=index,
            tree_size=f"{receipt['tree_size']:,}",
            signed_at=when(signed, timezone.get_current_timezone()) if signed else "",
            origin=receipt["origin"],
            server_ok=server_ok,
            witnessed=bool(receipt.get("witnessed")),
        )
    return render(request, "portal/receipt.html", ctx)


@login_required
def receipt_json(request, pk):
    event = _own_event(request, pk)
    receipt = _receipt(event)
    if receipt is None:
        raise Http404("No receipt yet: the next checkpoint will cover this access.")
    response = HttpResponse(json.dumps(receipt, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="receipt-{event.ledger_event_id}.json"'
    return response


@login_required
def time_zone(request):
    """Everyone's own setting: the time zone their pages show times in."""
    from django.contrib import messages
    from django.shortcuts import redirect

    form = TimeZoneForm(
        request.POST or None,
        initial={"time_zone": request.user.time_zone or timezone.get_default_timezone_name()},
    )
    if request.method == "POST":
        if form.is_valid():
            request.user.time_zone = form.cleaned_data["time_zone"]
            request.user.save(update_fields=["time_zone"])
            messages.success(request, f"Times are now shown in {request.user.time_zone}.")
            return redirect("home")
        return render(request, "portal/time_zone.html", {"form": form}, status=400)
    return render(request, "portal/time_zone.html", {"form": form})
