"""Patient pages: my consents (grant, revoke). Clinician: my patients, patient search and
break-glass.
Auditor: break-glass review queue. Thin: forms in, services and selectors do the work."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from portal import breakglass_selectors, consent_selectors, consent_text
from portal.access import authorize
from portal.consent_services import (
    BREAKGLASS_DEFAULT,
    ConsentError,
    breakglass_open,
    breakglass_review,
    consent_grant,
    consent_revoke,
)
from portal.forms import BreakGlassForm, GrantForm, PatientSearchForm, ReviewForm
from portal.models import BreakGlass, Consent, Role, User
from portal.throttle import throttle_allow

HOUR = 3600


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
            words = consent_text.describe(
                consent, names=consent_text.names_for([consent]), zone=timezone.get_current_timezone()
            )
            messages.success(request, f"Access granted. {words}")
            return redirect("consents")
    current = [c for c in consent_selectors.patient_consents(request.user) if c.is_current]
    consent_text.describe_all(current, zone=timezone.get_current_timezone())
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
def my_patients(request):
    _role_required(request, Role.CLINICIAN)
    grouped = consent_selectors.patients_of(request.user)
    active_bg = BreakGlass.objects.filter(clinician=request.user).select_related("patient")[:20]
    return render(
        request,
        "portal/my_patients.html",
        {
            "patients": grouped,
            "breakglass": active_bg,
            "emergency": breakglass_selectors.open_emergency_accesses(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def breakglass_start(request):
    """Find a patient of the clinician's organisation by name, date of birth or identifier
    (posted, so that none of these appears in a URL); rate-limited per clinician."""
    _role_required(request, Role.CLINICIAN)
    form = PatientSearchForm(request.POST or None)
    results, status = None, 200
    if request.method == "POST":
        if not throttle_allow(
            scope="patient-search",
            ident=str(request.user.pk),
            limit=settings.QMC_PATIENT_SEARCHES_PER_HOUR,
            window=HOUR,
        ):
            form.add_error(None, "Too many patient searches in the last hour. Try again later.")
            status = 429
        elif form.is_valid():
            results = breakglass_selectors.search_patients(
                request.user,
                name=form.cleaned_data["name"],
                birth_date=form.cleaned_data["birth_date"],
                identifier=form.cleaned_data["identifier"],
            )
        else:
            status = 400
    return render(request, "portal/patient_search.html", {"form": form, "results": results}, status=status)


@login_required
def breakglass(request, patient_id):
    _role_required(request, Role.CLINICIAN)
    patient = User.objects.filter(pk=patient_id, role=Role.PATIENT).first()
    if patient is None or not breakglass_selectors.is_organisation_patient(request.user, patient):
        raise Http404("No such patient in your organisation.")
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            bg = breakglass_open(clinician=request.user, patient=patient, reason=form.cleaned_data["reason"])
        except ConsentError as exc:
            form.add_error(None, exc.message)
        else:
            authorize(actor=request.user, action="list", patient=patient, purpose="ETREAT")
            messages.warning(
                request,
                f"Emergency access open until {consent_text.when(bg.expires_at, timezone.get_current_timezone())}. "
                "It is recorded, shown to the patient and reviewed by an auditor.",
            )
            return redirect("imaging:patient-scans", patient_id=patient.pk)
    return render(
        request,
        "portal/breakglass.html",
        {"form": form, "patient": patient, "hours": BREAKGLASS_DEFAULT.total_seconds() / 3600},
    )


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
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect("breakglass-review", pk=bg.pk)
    breakglass_review(
        auditor=request.user,
        breakglass=bg,
        note=form.cleaned_data["note"],
        outcome=form.cleaned_data["outcome"],
    )
    messages.success(request, f"Signed off as {form.cleaned_data['outcome']}.")
    return redirect("breakglass-queue")
