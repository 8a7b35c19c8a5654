"""Erasure pages: a patient asks (POST with a confirmation), an administrator decides.

The work is `imaging.erasure` (crypto-shredding); these views only check who may ask or decide
and show the state. Refusals carry the administrator's reason (for example a retention period).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from imaging import erasure
from portal.models import ErasureRequest, ErasureStatus, Role

CONFIRM_WORD = "ERASE"


def _fail(request, exc: erasure.ErasureError, to: str):
    if exc.status == 403:
        raise PermissionDenied(exc.message)
    messages.error(request, exc.message)
    response = redirect(to)
    return response


@login_required
def my_erasure(request):
    """GET: the patient's requests and the form; POST: ask (the confirmation word is required)."""
    if request.user.role != Role.PATIENT:
        raise PermissionDenied("Only patients can ask for their records to be erased.")
    if request.method == "POST":
        if request.POST.get("confirm", "").strip() != CONFIRM_WORD:
            requests = ErasureRequest.objects.filter(patient=request.user)
            context = {"requests": requests, "confirm_word": CONFIRM_WORD, "error": True}
            return render(request, "portal/erasure.html", context, status=400)
        try:
            erasure.erasure_request(patient=request.user)
        except erasure.ErasureError as exc:
            return _fail(request, exc, "erasure")
        messages.success(request, "Your request was sent to an administrator.")
        return redirect("erasure")
    requests = ErasureRequest.objects.filter(patient=request.user)
    return render(request, "portal/erasure.html", {"requests": requests, "confirm_word": CONFIRM_WORD})


@login_required
@require_POST
def cancel_erasure(request, pk):
    row = get_object_or_404(ErasureRequest, pk=pk, patient=request.user)
    try:
        erasure.erasure_cancel(patient=request.user, request=row)
    except erasure.ErasureError as exc:
        return _fail(request, exc, "erasure")
    messages.success(request, "Your request was withdrawn.")
    return redirect("erasure")


def _admin_required(request) -> None:
    if request.user.role != Role.ADMIN:
        raise PermissionDenied("Only administrators decide erasure requests.")


@login_required
def erasure_queue(request):
    _admin_required(request)
    pending = ErasureRequest.objects.filter(status=ErasureStatus.PENDING).order_by("requested_at")
    decided = ErasureRequest.objects.exclude(status=ErasureStatus.PENDING)[:50]
    return render(request, "portal/erasure_queue.html", {"pending": pending, "decided": decided})


@login_required
@require_POST
def erasure_decide(request, pk):
    _admin_required(request)
    row = get_object_or_404(ErasureRequest, pk=pk)
    decision = request.POST.get("decision")
    try:
        if decision == "approve":
            if request.POST.get("confirm", "").strip() != CONFIRM_WORD:
                return HttpResponse(
                    f"Type {CONFIRM_WORD} to confirm: erasure cannot be undone.",
                    status=400,
                    content_type="text/plain",
                )
            done = erasure.erasure_approve(actor=request.user, request=row)
            messages.success(request, f"Erased: {done.scans_erased} scans crypto-shredded.")
        elif decision == "reject":
            erasure.erasure_reject(actor=request.user, request=row, note=request.POST.get("note", ""))
            messages.success(request, "Request refused; the patient sees your reason.")
        else:
            return HttpResponse("decision must be approve or reject.", status=400, content_type="text/plain")
    except erasure.ErasureError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    return redirect("erasure-queue")
