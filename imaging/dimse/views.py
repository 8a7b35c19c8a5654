"""/scans/reconcile/: the clinicians of an organisation attach the DICOM instances its peers sent
for a patient the portal could not match (thin: role, form, one service call)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from imaging.dimse import selectors, services
from portal.models import Role, User


def _clinician_only(request) -> None:
    if request.user.role != Role.CLINICIAN or not request.user.organisation_id:
        raise PermissionDenied(
            "The reconciliation queue is for the clinicians of the receiving organisation."
        )


def _page(request, *, status: int = 200, error: str = ""):
    groups = selectors.pending_groups(organisation_id=request.user.organisation_id)
    patients = selectors.attachable_patients(request.user)
    return render(
        request,
        "imaging/reconcile.html",
        {"groups": groups, "patients": patients, "error": error},
        status=status,
    )


@login_required
@require_GET
def reconcile(request):
    _clinician_only(request)
    return _page(request)


def _patient(value) -> User | None:
    try:
        pk = uuid.UUID(str(value))
    except ValueError:
        return None
    return User.objects.filter(pk=pk, role=Role.PATIENT).first()


@login_required
@require_POST
def reconcile_attach(request, pending_id):
    _clinician_only(request)
    patient = _patient(request.POST.get("patient"))
    if patient is None:
        return _page(request, status=400, error="Choose the patient these instances belong to.")
    if request.POST.get("confirm") != "yes":
        return _page(
            request,
            status=400,
            error="Tick the box to confirm that the DICOM patient shown is this portal patient.",
        )
    try:
        result = services.pending_attach(clinician=request.user, pending_id=pending_id, patient=patient)
    except services.AttachRefused as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        return _page(request, status=exc.status, error=exc.message)
    if result.attached:
        messages.success(
            request,
            f"{len(result.attached)} instance(s) attached to {patient.display_name()}; processing has started.",
        )
    for comment in result.failed:
        messages.error(request, f"An instance stayed in the queue: {comment}.")
    return redirect("imaging:reconcile")
