"""Patient pages: my consents (grant, revoke), access history. Clinician: my patients, break-glass.
Auditor: break-glass review queue. Thin: forms in, services and selectors do the work."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal import consent_selectors
from portal.access import authorize
from portal.consent_services import (
    ConsentError,
    breakglass_open,
    breakglass_review,
    consent_grant,
    consent_revoke,
)
from portal.forms import BreakGlassForm, GrantForm, ReviewForm
from portal.models import AccessEvent, BreakGlass, Consent, Role, User


def _role_required(request, *roles):
    if request.user.role not in roles:
        raise PermissionDenied("This page is not for your role.")


@login_required
def my_consents(request):
    _role_required(request, Role.PATIENT)
    form = GrantForm(request.POST or None, patient=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            consent = consent_grant(
                patient=request.user,
                actions=form.cleaned_data["actions"],
                purposes=form.cleaned_data["purposes"],
                scope_kind=form.cleaned_data["scope_kind"],
                scope_scan_ids=form.cleaned_data["scope_scan_ids"],
                scope_modality=form.cleaned_data["scope_modality"],
                scope_from=form.cleaned_data["scope_from"],
                scope_to=form.cleaned_data["scope_to"],
                end=form.end(),
                **form.grantee_kwargs(),
            )
        except (ConsentError, User.DoesNotExist, ValueError) as exc:
            form.add_error(None, getattr(exc, "message", "That grantee does not exist."))
        else:
            messages.success(request, f"Access granted. {consent.policy_text}")
            return redirect("consents")
    current = [c for c in consent_selectors.patient_consents(request.user) if c.is_current]
    groups = {"active": [], "pending": [], "expired": [], "inactive": [], "rejected": []}
    for consent in current:
        groups[consent.effective_status()].append(consent)
    return render(request, "portal/consents.html", {"form": form, "groups": groups})


@login_required
@require_POST
def revoke(request, series):
    _role_required(request, Role.PATIENT)
    consent = Consent.objects.filter(series=series, patient=request.user, is_current=True).first()
    if consent is None:
        raise Http404("No such consent.")
    try:
        revoked, changed = consent_revoke(actor=request.user, consent=consent)
    except ConsentError as exc:
        raise Http404(exc.message) from None
    if changed:
        messages.success(request, f"Revoked. {revoked.grantee_label()} can no longer see your scans.")
    else:
        messages.info(request, "That consent was already revoked; nothing changed.")
    return redirect("consents")


@login_required
def access_history(request):
    _role_required(request, Role.PATIENT)
    events = list(
        AccessEvent.objects.filter(patient=request.user).select_related(
            "actor__remote_clinician__peer", "consent", "breakglass"
        )[:100]
    )
    statuses = consent_selectors.receipt_statuses([e.ledger_event_id for e in events if e.ledger_event_id])
    for event in events:
        event.receipt_status = statuses.get(event.ledger_event_id, "")
    breakglass = BreakGlass.objects.filter(patient=request.user).select_related("clinician")[:50]
    notifications = request.user.notifications.all()[:20]
    return render(
        request,
        "portal/access_history.html",
        {"events": events, "breakglass": breakglass, "notifications": notifications},
    )


@login_required
def my_patients(request):
    _role_required(request, Role.CLINICIAN)
    grouped = consent_selectors.patients_of(request.user)
    active_bg = BreakGlass.objects.filter(clinician=request.user).select_related("patient")[:20]
    return render(request, "portal/my_patients.html", {"patients": grouped, "breakglass": active_bg})


@login_required
@require_POST
def breakglass_start(request):
    """Find the patient by username (posted, so it never appears in a URL)."""
    _role_required(request, Role.CLINICIAN)
    patient = User.objects.filter(
        username=request.POST.get("username", "").strip(), role=Role.PATIENT
    ).first()
    if patient is None:
        messages.error(request, "No patient with that username.")
        return redirect("my-patients")
    return redirect("breakglass", patient_id=patient.pk)


@login_required
def breakglass(request, patient_id):
    _role_required(request, Role.CLINICIAN)
    patient = get_object_or_404(User, pk=patient_id, role=Role.PATIENT)
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            bg = breakglass_open(clinician=request.user, patient=patient, reason=form.cleaned_data["reason"])
        except ConsentError as exc:
            form.add_error(None, exc.message)
        else:
            authorize(actor=request.user, action="list", patient=patient, purpose="ETREAT")
            messages.warning(
                request, f"Emergency access open until {bg.expires_at:%H:%M} UTC. It is recorded."
            )
            return redirect("my-patients")
    return render(request, "portal/breakglass.html", {"form": form, "patient": patient})


@login_required
def breakglass_queue(request):
    _role_required(request, Role.AUDITOR)
    pending = BreakGlass.objects.filter(reviewed_at__isnull=True).select_related("clinician", "patient")
    done = BreakGlass.objects.filter(reviewed_at__isnull=False).select_related("clinician", "reviewed_by")[
        :50
    ]
    return render(
        request, "portal/breakglass_queue.html", {"pending": pending, "done": done, "form": ReviewForm()}
    )


@login_required
@require_POST
def breakglass_signoff(request, pk):
    _role_required(request, Role.AUDITOR)
    bg = get_object_or_404(BreakGlass, pk=pk)
    form = ReviewForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    breakglass_review(auditor=request.user, breakglass=bg, note=note)
    messages.success(request, "Signed off.")
    return redirect("breakglass-queue")
