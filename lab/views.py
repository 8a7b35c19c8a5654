"""Web pages of the quantum lab (thin: check the role, call the service/selectors, render)."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from lab import selectors
from lab.forms import FORMS, IMAGE_TOOLS
from lab.models import RunStatus, Tool
from lab.permissions import authorize_run, can_use_lab
from lab.services import LabError, lab_run_start

TOOL_INFO = {
    "bb84": (
        "BB84 quantum key distribution",
        "Alice sends random bits in random bases, Bob measures in random bases; they keep matching "
        "bases, estimate the error rate (QBER) on a sample, abort above 11 %, reconcile with Cascade and "
        "shorten the key by privacy amplification. An intercept-resend eavesdropper on a fraction f of "
        "the qubits raises the QBER to about 0.25·f.",
    ),
    "neqr": (
        "NEQR quantum image encryption",
        "The image is encoded in a quantum state (NEQR), its positions and bit planes scrambled and "
        "XOR-ed with a chaotic key image. Measured the standard way: NPCR and UACI between the "
        "ciphertexts of two images that differ in one pixel, entropy and adjacent-pixel correlation.",
    ),
    "qhash": (
        "Quantum-walk hash",
        "A quantum walk on a 33-node cycle whose coin is chosen by each message bit; the 256-bit digest "
        "is read from the final position probabilities. Tested by flipping one message bit: about half "
        "the digest bits should change and equal bytes should follow the binomial law.",
    ),
    "bellauth": (
        "Bell-state node authentication",
        "Two ledger nodes share entangled |Φ⁺⟩ pairs and compare K randomly chosen pairs in a random "
        "shared basis. An intercept-resend or entangle-measure attacker causes 25 % errors per checked "
        "pair, so detection probability is 1 − (3/4)^K.",
    ),
    "ghost": (
        "Ghost-imaging acquisition",
        "A 64 × 64 image is measured only through a single-pixel bucket detector under random or "
        "Hadamard patterns, then reconstructed by correlation (GI), differential GI or compressive "
        "sensing. Expected quality order at equal sampling ratio: cs > dgi > gi.",
    ),
}


def lab_user_required(view):
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not can_use_lab(request.user):
            raise PermissionDenied("The quantum lab is for clinicians, auditors and administrators.")
        return view(request, *args, **kwargs)

    return wrapper


@lab_user_required
def index(request):
    tools = [{"key": k, "label": Tool(k).label, "title": t, "text": d} for k, (t, d) in TOOL_INFO.items()]
    runs = list(selectors.listed_runs_of(request.user)[:20])
    return render(request, "lab/index.html", {"tools": tools, "runs": runs})


def _form_params(tool: str, data: dict) -> dict:
    params = {k: v for k, v in data.items() if v is not None and v != ""}
    if tool in IMAGE_TOOLS and params.get("source") != "scan":
        params.pop("scan_id", None)
    if tool == "neqr" and params.get("source") == "scan":
        params.pop("size", None)
    return params


@lab_user_required
@require_http_methods(["GET", "POST"])
def new_run(request, tool):
    if tool not in FORMS:
        raise Http404("No such tool.")
    kwargs = {}
    if tool in IMAGE_TOOLS:
        kwargs["scans"] = selectors.lab_scans_for(request.user)
    form = FORMS[tool](request.POST or None, **kwargs)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                run = lab_run_start(
                    user=request.user, tool=tool, params=_form_params(tool, form.cleaned_data)
                )
            except LabError as exc:
                field = exc.field if exc.field in form.fields else None
                form.add_error(field, exc.message)
                status = exc.status_code
            else:
                return redirect("lab:run", run_id=run.id)
        else:
            status = 400
    title, text = TOOL_INFO[tool]
    return render(
        request, "lab/form.html", {"form": form, "tool": tool, "title": title, "text": text}, status=status
    )


def _own_run(request, run_id):
    run = selectors.run_of(request.user, run_id)
    if run is None:
        raise Http404("No such lab run.")
    return run


def _authorized(request, run, *, record: bool = True):
    """A run made from a scan is shown only while the policy lets the caller view that scan
    (decided and recorded like viewing it; refused with 404 or 403 like imaging's pages)."""
    decision = authorize_run(user=request.user, run=run, record=record)
    if decision is not None and not decision.allowed:
        if decision.status_code == 404:
            raise Http404(decision.message)
        raise PermissionDenied(decision.message)
    return run


def _run_or_404(request, run_id):
    return _authorized(request, _own_run(request, run_id))


def _private(response, run):
    if run.uses_scan:
        response["Cache-Control"] = "private, no-store"
    return response


@lab_user_required
def run_page(request, run_id):
    run = _run_or_404(request, run_id)
    title, _ = TOOL_INFO[run.tool]
    return _private(
        render(request, "lab/run.html", {"run": run, "title": title, "status": selectors.status_of(run)}), run
    )


@lab_user_required
def run_status(request, run_id):
    run = _own_run(request, run_id)
    # polled while the run works: recorded once it carries the numbers and the figure link
    _authorized(request, run, record=run.status == RunStatus.DONE)
    data = selectors.status_of(run)
    if run.finished:
        data["comparison"] = (run.result or {}).get("comparison", [])
    data["figure_url"] = reverse("lab:figure", args=[run.id]) if run.figure_png else None
    return _private(JsonResponse(data), run)


@lab_user_required
def run_figure(request, run_id):
    run = _run_or_404(request, run_id)
    if not run.figure_png:
        raise Http404("No figure yet.")
    response = HttpResponse(run.figure_bytes(), content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
