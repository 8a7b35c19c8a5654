"""The hospital network's pages, mounted at /network/: the auditors' network page, a peer's
page (with the simulated quantum checks), evidence of a lying log (list and JSON download),
and the administrators' add-peer page with fingerprint confirmation. Thin: check the role,
call selectors and services, render."""

from __future__ import annotations

import datetime as dt
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from federation import selectors
from federation.forms import CardForm, ConfirmForm, PeerForm
from federation.models import Peer
from federation.peers import add_peer, parse_vkeys
from federation.simulations import quantum_checks_run
from portal.models import Role

NETWORK_ROLES = (Role.AUDITOR, Role.ADMIN)
RERUN_INTERVAL = dt.timedelta(seconds=10)


def _role_required(*roles: str, message: str):
    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_active or request.user.role not in roles:
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


network_user = _role_required(
    *NETWORK_ROLES, message="The network pages are for auditors and administrators."
)
network_admin = _role_required(Role.ADMIN, message="Only an administrator can add a peer.")


def _peer_or_404(peer_id: int):
    peer = selectors.peer_by_id(peer_id)
    if peer is None:
        raise Http404("No such peer.")
    return peer


@network_user
@require_GET
def network(request):
    return render(
        request,
        "federation/network.html",
        {
            "node": selectors.node_identity(),
            "quorum": selectors.quorum_summary(),
            "peers": selectors.peers_overview(),
            "checkpoints": selectors.recent_checkpoints(),
            "evidence_count": selectors.evidence_count(),
        },
    )


@network_user
@require_GET
def peer(request, peer_id: int):
    p = _peer_or_404(peer_id)
    seen = [(s, selectors.checkpoint_summary(s.note)) for s in selectors.seen_history(p)]
    return render(
        request,
        "federation/peer.html",
        {
            "peer": p,
            "keys": selectors.peer_keys(p),
            "seen": seen,
            "evidence": list(selectors.evidence_of(p)),
            "check": selectors.latest_quantum_check(p),
        },
    )


@network_user
@require_POST
def peer_quantum(request, peer_id: int):
    """Run the simulated Bell-state and BB84 checks with this peer again."""
    p = _peer_or_404(peer_id)
    last = selectors.latest_quantum_check(p)
    if last is not None and timezone.now() - last.ran_at < RERUN_INTERVAL:  # a second of CPU each
        messages.info(request, "The simulations ran a moment ago; their statistics are below.")
    else:
        quantum_checks_run(peer=p)
        messages.success(request, "The simulated quantum checks ran again; their statistics are below.")
    return redirect("federation:peer", peer_id=p.pk)


@network_user
@require_GET
def evidence_list(request):
    return render(request, "federation/evidence_list.html", {"evidence": list(selectors.evidence_list())})


@network_user
@require_GET
def evidence_json(request, evidence_id: int):
    from federation.evidence import evidence_json as to_json

    ev = selectors.evidence_by_id(evidence_id)
    if ev is None:
        raise Http404("No such evidence.")
    response = JsonResponse(to_json(ev), json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="evidence-{ev.pk}.json"'
    return response


def _fingerprints(form: PeerForm) -> list[selectors.KeyFingerprint] | None:
    """The keys as they would be trusted, or None with the reason added to the form."""
    try:
        parsed = parse_vkeys(form.cleaned_data["origin"].strip(), form.vkey_lines())
    except ValueError as exc:
        form.add_error("vkeys", str(exc))
        return None
    if not parsed:
        form.add_error("vkeys", "Paste at least one key.")
        return None
    return [selectors.key_fingerprint(v.vkey, purpose) for purpose, v in parsed]


def _edit(request, form: PeerForm, *, status: int = 200, card=None, card_error: str = ""):
    return render(
        request,
        "federation/peer_add.html",
        {"form": form, "card_form": CardForm(prefix="card"), "card": card, "card_error": card_error},
        status=status,
    )


def _confirm_page(request, form: PeerForm, keys, confirm: ConfirmForm, *, status: int = 200):
    return render(
        request,
        "federation/peer_confirm.html",
        {
            "form": form,
            "keys": keys,
            "confirm": confirm,
            "role_label": dict(Peer.ROLES)[form.cleaned_data["role"]],
        },
        status=status,
    )


def _from_card(request):
    """Pre-fill the form from the prospective peer's node card (shown as not trusted)."""
    card_form = CardForm(request.POST, prefix="card")
    if not card_form.is_valid():
        return _edit(
            request, PeerForm(), status=400, card_error="Give the peer's base URL to fetch its card."
        )
    try:
        card = selectors.fetch_card(card_form.cleaned_data["url"])
    except selectors.CardUnavailable as exc:
        return _edit(request, PeerForm(), status=400, card_error=str(exc))
    initial = {
        "origin": card.origin,
        "vkeys": "\n".join(card.vkeys),
        "url": card.base_url,
        "name": card.name,
        "role": "both",
    }
    return _edit(request, PeerForm(initial=initial), card=card)


@network_admin
@require_http_methods(["GET", "POST"])
def peer_add(request):
    """Step 1 (`step=preview`): parse what was pasted and show each key's fingerprint.
    Step 2 (`step=confirm`, with the confirmation ticked): trust the peer (`add_peer`), then
    run the simulated quantum checks with it. `step=card` pre-fills from its node card."""
    if request.method == "GET":
        return _edit(request, PeerForm())
    step = request.POST.get("step", "")
    if step == "card":
        return _from_card(request)
    form = PeerForm(request.POST)
    if step == "edit":
        return _edit(request, form)
    if step not in ("preview", "confirm"):
        return _edit(request, form, status=400)
    if not form.is_valid():
        return _edit(request, form, status=400)
    keys = _fingerprints(form)
    if keys is None:
        return _edit(request, form, status=400)
    if step == "preview":
        return _confirm_page(request, form, keys, ConfirmForm(initial={"digest": form.digest()}))
    confirm = ConfirmForm(request.POST)
    if not confirm.is_valid():
        return _confirm_page(request, form, keys, confirm, status=400)
    if confirm.cleaned_data["digest"] != form.digest():
        confirm = ConfirmForm(initial={"digest": form.digest()})
        messages.error(request, "The peer changed since its fingerprints were shown: compare them again.")
        return _confirm_page(request, form, keys, confirm, status=400)
    d = form.cleaned_data
    try:
        p = add_peer(
            origin=d["origin"], vkeys=form.vkey_lines(), url=d["url"], role=d["role"], name=d["name"]
        )
    except ValueError as exc:
        form.add_error(None, str(exc))
        return _edit(request, form, status=400)
    quantum_checks_run(peer=p)
    messages.success(request, f"{p} is now a trusted peer ({p.get_role_display()}).")
    return redirect("federation:peer", peer_id=p.pk)
