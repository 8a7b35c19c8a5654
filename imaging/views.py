"""Web pages of the imaging app (thin: authorise, call a service or selector, render)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from imaging import blobs, model_registry, selectors, services
from imaging.permissions import authorize, decision_message
from imaging.validation import UploadRejected
from portal.consent_selectors import patients_of
from portal.models import Role, User
from portal.policy import decide
from portal.refusals import refusal_for


class UploadForm(forms.Form):
    patient = forms.ChoiceField(label="Patient")
    file = forms.FileField(
        label="Scan file",
        help_text="DICOM (.dcm), PNG or JPEG. The type is checked from the content; the file name is not used.",
        widget=forms.ClearableFileInput(attrs={"accept": ".dcm,application/dicom,image/png,image/jpeg"}),
    )

    ghost = forms.BooleanField(
        label="Acquire by simulated ghost imaging (demo)",
        required=False,
        help_text="SIMULATION for demonstration only: the image is re-acquired at 64 × 64 by simulated "
        "computational ghost imaging (random patterns, bucket detector) and the reconstruction is what gets "
        "diagnosed. The uploaded original is stored unchanged. Leave unticked for real use.",
    )
    ghost_ratio = forms.FloatField(
        label="Ghost imaging: sampling ratio",
        required=False,
        min_value=services.GHOST_RATIO_MIN,
        max_value=1.0,
        initial=0.3,
        help_text="Measurements per pixel, 0.05 – 1.",
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )
    ghost_method = forms.ChoiceField(
        label="Ghost imaging: reconstruction",
        required=False,
        initial="cs",
        choices=[
            ("cs", "Compressive sensing (TV)"),
            ("dgi", "Differential ghost imaging"),
            ("gi", "Correlation ghost imaging"),
        ],
    )

    neqr_layer = forms.BooleanField(
        label="Add the simulated NEQR quantum-image-cipher layer to derived images "
        "(demo; AES-256-GCM still protects everything)",
        required=False,
        help_text="SIMULATION for demonstration only: the preview (at most 512 px) and the 128 × 128 matrix "
        "also pass through a simulated NEQR quantum image cipher, under a key derived from their AES data "
        "keys. It adds no protection; AES-256-GCM provides the confidentiality. The scan page then shows "
        "the cipher image.",
    )

    def __init__(self, *args, patients, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].choices = [(str(p.pk), p.display_name()) for p in patients]

    def ghost_options(self) -> dict | None:
        """{"method", "ratio"} when the demo option is ticked (form must be bound)."""
        data = self.data
        if str(data.get("ghost", "")).lower() not in ("on", "true", "1", "yes"):
            return None
        return {"method": data.get("ghost_method") or "cs", "ratio": data.get("ghost_ratio") or 0.3}

    def neqr_layer_option(self) -> bool:
        """True when the simulated NEQR layer (demo) is ticked (form must be bound)."""
        return str(self.data.get("neqr_layer", "")).lower() in ("on", "true", "1", "yes")


def _upload_patients(user):
    if user.role == Role.PATIENT:
        return [user]
    return [p for p in patients_of(user) if decide(user, "upload", p).allowed]


def _patient(pk) -> User | None:
    try:
        return User.objects.filter(pk=pk, role=Role.PATIENT).first()
    except (ValueError, Exception):  # noqa: BLE001 - malformed uuid
        return None


def _deny(request, decision, action, *, status=None):
    status = status or getattr(decision, "status_code", 403)
    if status == 404:
        raise Http404(decision_message(decision, action))
    return render(
        request, "imaging/denied.html", {"message": decision_message(decision, action)}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def upload(request):
    patients = _upload_patients(request.user)
    form = UploadForm(request.POST or None, request.FILES or None, patients=patients)
    status = 200
    if request.method == "POST":
        if "file" not in request.FILES:
            form.add_error("file", "No file was received. Choose a DICOM, PNG or JPEG file.")
            status = 400
        patient = _patient(request.POST.get("patient"))
        if patient is None:
            form.add_error("patient", "Choose a patient.")
            status = 400
        if status == 200:
            decision = authorize(actor=request.user, action="upload", patient=patient)
            if not decision.allowed:
                form.add_error(None, decision_message(decision, "upload"))
                status = 403
            else:
                f = request.FILES["file"]
                try:
                    scan = services.scan_upload(
                        uploader=request.user,
                        patient=patient,
                        file=f,
                        ghost=form.ghost_options(),
                        neqr_layer=form.neqr_layer_option(),
                    )
                except UploadRejected as exc:
                    field = {"bad_ghost_ratio": "ghost_ratio", "bad_ghost_method": "ghost_method"}.get(
                        exc.code, "file"
                    )
                    form.add_error(field, exc.message)
                    status = exc.status
                else:
                    messages.success(request, "Scan uploaded; processing has started.")
                    return redirect("imaging:scan", scan_id=scan.id)
    response = render(
        request, "imaging/upload.html", {"form": form, "has_patients": bool(patients)}, status=status
    )
    if status == 503:  # the blob store is down: the form says so and nothing was saved
        response["Retry-After"] = str(blobs.OUTAGE_RETRY_AFTER)
    return response


@login_required
def index(request):
    if request.user.role == Role.PATIENT:
        return redirect("imaging:patient-scans", patient_id=request.user.pk)
    patients = list(patients_of(request.user))
    return render(request, "imaging/index.html", {"patients": patients})


@login_required
def patient_scans(request, patient_id):
    patient = _patient(patient_id)
    if patient is None:
        raise Http404("Patient not found.")
    decision = authorize(actor=request.user, action="list", patient=patient)
    if not decision.allowed:  # 403 with the next step, or 404 where existence is hidden
        raise refusal_for(request.user, decision, patient=patient, message=decision_message(decision, "list"))
    scans = selectors.scans_of(patient)
    return render(request, "imaging/patient_scans.html", {"patient": patient, "scans": scans})


def _scan_or_404(request, scan_id, action="view", **kw):
    scan = selectors.scan_by_id(scan_id)
    if scan is None:
        raise Http404("Scan not found.")
    decision = authorize(actor=request.user, action=action, patient=scan.patient, scan=scan, **kw)
    if not decision.allowed:
        # 404 where the policy hides existence; otherwise say why (e.g. consent revoked)
        if decision.status_code == 404:
            raise Http404(decision_message(decision, action))
        raise refusal_for(
            request.user, decision, patient=scan.patient, message=decision_message(decision, action)
        )
    return scan


@login_required
def scan_page(request, scan_id):
    scan = _scan_or_404(request, scan_id)
    images = selectors.images_for(scan, reader=request.user) if scan.status == "done" else None
    integrity = selectors.integrity_of(scan) if scan.status == "done" else None
    ctx = {
        "scan": scan,
        "images": images,
        "integrity": integrity,
        "status": selectors.status_of(scan),
        "diagnosis_model": selectors.model_for_scan(scan) if scan.status == "done" else None,
    }
    if scan.status == "done":
        ctx["wording"] = selectors.diagnosis_wording(scan, ctx["diagnosis_model"])
        ctx["has_saliency"] = selectors.has_saliency(scan) and not (images and images.error)
    if request.GET.get("part") == "result":
        return render(request, "imaging/_result.html", ctx)
    return render(request, "imaging/scan.html", ctx)


@login_required
def scan_status(request, scan_id):
    scan = _scan_or_404(request, scan_id, record=False)
    return JsonResponse(selectors.status_of(scan))


@login_required
@require_POST
def scan_retry(request, scan_id):
    scan = _scan_or_404(request, scan_id)
    decision = authorize(actor=request.user, action="upload", patient=scan.patient, scan=scan)
    if not decision.allowed:
        return _deny(request, decision, "upload")
    try:
        services.scan_retry(actor=request.user, scan=scan)
    except UploadRejected as exc:
        messages.error(request, exc.message)
        return redirect("imaging:scan", scan_id=scan.id)
    messages.success(request, "The scan was put back in the queue.")
    return redirect("imaging:scan", scan_id=scan.id)


# ---------------------------------------------------------------- diagnosis model registry


def _forbidden(request, message: str):
    return render(request, "imaging/denied.html", {"message": message}, status=403)


@login_required
def models_list(request):
    """Administrators: registered models, validation metrics, switch the active model."""
    if not model_registry.is_model_admin(request.user):
        return _forbidden(request, "Only administrators can manage the diagnosis models.")
    try:
        model_registry.model_ensure_active()
    except model_registry.ModelRegistryError as exc:
        messages.error(request, str(exc))
    return render(request, "imaging/models.html", {"models": list(selectors.diagnosis_models())})


@login_required
@require_http_methods(["GET", "POST"])
def model_activate(request, model_pk):
    """GET: confirmation page; POST (CSRF, ``confirm=yes``): switch the active model."""
    if not model_registry.is_model_admin(request.user):
        return _forbidden(request, "Only administrators can switch the active diagnosis model.")
    model = selectors.diagnosis_model_by_pk(model_pk)
    if model is None:
        raise Http404("Model not found.")
    active = selectors.diagnosis_models(model.task).filter(is_active=True).first()
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            messages.error(request, "Tick the confirmation box to switch the model.")
            return render(
                request, "imaging/model_activate.html", {"model": model, "active": active}, status=400
            )
        try:
            model_registry.model_activate(actor=request.user, model=model)
        except model_registry.ModelRegistryError as exc:
            messages.error(request, str(exc))
            return redirect("imaging:models")
        messages.success(
            request, f"{model.model_id} v{model.version} is now the active model; recorded on the ledger."
        )
        return redirect("imaging:models")
    return render(request, "imaging/model_activate.html", {"model": model, "active": active})


@login_required
def model_card(request, model_pk):
    """The model card (no patient data): for every signed-in clinician, auditor or admin."""
    if request.user.role not in (Role.CLINICIAN, Role.ADMIN, Role.AUDITOR, Role.PATIENT):
        return _forbidden(request, "Not allowed.")
    model = selectors.diagnosis_model_by_pk(model_pk)
    if model is None:
        raise Http404("Model not found.")
    return render(request, "imaging/model_card.html", {"model": model})


# ---------------------------------------------------------------- saliency overlay


@login_required
@require_http_methods(["GET"])
def saliency_overlay(request, scan_id):
    """The saliency map of an applicable scan's diagnosis as a colour-map PNG with alpha (the
    scan page's overlay toggle). Decided by the same policy call as the scan page (``view``
    on the scan, recorded), and decrypted with the reader's own key wrap, like the preview."""
    scan = _scan_or_404(request, scan_id)
    result = selectors.saliency_overlay_for(scan, reader=request.user)
    if result.status != 200:
        if result.status == 404:
            raise Http404(result.message)
        if result.status == 403:
            raise PermissionDenied(result.message)
        return HttpResponse(result.message, status=result.status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(result.png, content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
