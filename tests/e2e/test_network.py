"""The hospital network's pages in a browser, at a laptop width (1366 px) and a phone width
(360 px): no sideways scrolling, no Content-Security-Policy violation (new_page checks),
the documented accessibility subset, and an administrator adding a peer through the
fingerprint confirmation. Screenshots: artifacts/e2e/network-<page>-<width>.png."""

from __future__ import annotations

import time

import pytest

from tests.e2e.a11y import subset_problems
from tests.e2e.conftest import login_cookie, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (1366, 360)


def _state(settings):
    """Hospital B trusted and cosigning our checkpoint, then caught forking its log."""
    from federation import keys, push, quorum, simulations
    from federation.evidence import record_evidence
    from federation.peers import add_peer, witness_verifiers
    from ledger import note
    from ledger import services as ledger_services
    from tests.factories import AdminFactory, AuditorFactory
    from tests.federation.peer_log import PeerLog

    settings.LEDGER_ORIGIN = "hospital-a.example/ledger"
    settings.FEDERATION_WITNESS_NAME = "hospital-a.example/witness"
    keys._signer_cache.clear()
    log = PeerLog("hospital-b.example/ledger", leaves=6)
    witness = note.Signer("hospital-b.example/witness", note.ALG_COSIG_V1, *note.generate(note.ALG_COSIG_V1))
    peer = add_peer(
        origin=log.origin,
        vkeys=[*log.vkeys, witness.verifier().vkey],
        url="https://b.example",
        name="Hospital B",
    )
    ledger_services.record_event(event_type="model.registered", payload={"model_id": "e2e-network"})
    ledger_services.append_all()
    cp = ledger_services.create_checkpoint(force=True)
    text, _ = note.split_note(cp.note)
    good, _ = push.verify_lines(
        cp.note, note.signature_lines(text, [witness], timestamp=int(time.time())), witness_verifiers(peer)
    )
    for c in good:
        c.checkpoint, c.peer = cp, peer
        c.save()
    quorum.update_witnessed(cp)
    simulations.quantum_checks_run(peer=peer, seed=11)
    ev = record_evidence(
        peer=peer, first_note=log.checkpoint(), second_note=log.fork(2).checkpoint(), proof=None, via="gossip"
    )
    return AuditorFactory(username="audrey.net"), AdminFactory(username="ada.admin"), peer, ev


def _fits(page, width: int) -> str | None:
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    if scroll <= width:
        return None
    wide = page.evaluate(
        f"""() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > {width + 1})
               .slice(0, 3).map(e => e.tagName.toLowerCase() + '.' + e.className)"""
    )
    return f"scrollWidth {scroll} > {width} ({wide})"


def test_network_pages_fit_both_widths(new_page, live_server, settings):
    auditor, admin, peer, ev = _state(settings)
    pages = [
        ("network", auditor, "/network/"),
        ("peer", auditor, f"/network/peers/{peer.pk}/"),
        ("evidence", auditor, "/network/evidence/"),
        ("add", admin, "/network/peers/add/"),
    ]
    problems = []
    for width in WIDTHS:
        for name, user, url in pages:
            page = new_page(width=width, height=900)
            login_cookie(page, user, live_server.url)
            resp = page.goto(url)
            assert resp.ok, f"{url}: HTTP {resp.status}"
            shot(page, "network", f"{name}-{width}")
            if (wide := _fits(page, width)) is not None:
                problems.append(f"{name} at {width}px: {wide}")
            problems += [f"{name} at {width}px: {p}" for p in subset_problems(page)]
    assert not problems, "\n".join(problems)


def test_an_alert_and_the_simulation_label_are_visible(new_page, live_server, settings):
    auditor, _, peer, _ = _state(settings)
    page = new_page(width=360, height=800)
    login_cookie(page, auditor, live_server.url)
    page.goto("/network/")
    assert page.get_by_role("alert").first.is_visible()
    page.get_by_role("link", name="See the evidence and download it").click()
    page.get_by_role("heading", name="Evidence of lying logs").wait_for()
    page.goto(f"/network/peers/{peer.pk}/")
    label = page.get_by_role("note").filter(has_text="SIMULATION")
    assert label.is_visible()
    page.get_by_role("button", name="Run the simulations again").click()
    page.get_by_text("their statistics are below").wait_for()


def test_an_administrator_adds_a_peer_after_comparing_fingerprints(new_page, live_server, settings):
    from federation.models import Peer
    from federation.peers import fingerprint
    from ledger import note
    from tests.federation.peer_log import PeerLog

    _, admin, _, _ = _state(settings)
    c = PeerLog("hospital-c.example/ledger")
    page = new_page(width=360, height=800)
    login_cookie(page, admin, live_server.url)
    page.goto("/network/peers/add/")
    page.get_by_label("Origin").fill(c.origin)
    page.get_by_label("Keys").fill("\n".join(c.vkeys))
    page.get_by_label("Role").select_option("log")
    page.get_by_role("button", name="Show fingerprints").click()
    page.get_by_role("heading", name="Confirm the peer's fingerprints").wait_for()
    for vkey in c.vkeys:
        assert page.get_by_text(fingerprint(note.parse_vkey(vkey))).is_visible()
    shot(page, "network", "confirm-360")
    assert not Peer.objects.filter(origin=c.origin).exists()
    page.get_by_label("I compared every fingerprint").check()
    page.get_by_role("button", name="Trust this peer").click()
    page.get_by_role("heading", name=f"Peer: {c.origin}").wait_for()
    assert Peer.objects.get(origin=c.origin).trusted
