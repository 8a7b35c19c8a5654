"""A patient's scans follow them to another hospital, under their consent (issue 22), on three
real nodes (tests/federation/nodes.py): separate processes, databases and ports. node1 is the
patient's hospital (A), node2 the clinician's (B), node3 a third witness.

Everything a person does is done over HTTP as in a browser: dr.ada logs in at node2 (password
and TOTP) and opens the pages; alice logs in at node1 to read her access history. The patient's
grant and revocation run node1's `exchange_demo` command (what `make network` seeds).

The tests share the network and run in order: grant -> open (verified) -> the access history ->
node1 going away mid-fetch -> revoke -> expiry."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime

import pytest
import requests

from tests.federation.flaky_proxy import FlakyProxy
from tests.federation.nodes import Network, cosigners, wait_until

pytestmark = pytest.mark.timeout(420)

PASSWORD = "demo-password-2026"  # portal/management/commands/seed_demo.py


@dataclass
class Exchange:
    shared: dict  # exchange_demo share's output
    ada: requests.Session  # dr.ada, logged in at node2
    peer_id: int  # node1 as a peer at node2
    png_scan: str  # the PNG scan shared


def _csrf(html: str) -> str:
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert m, "no CSRF token in the form"
    return m.group(1)


def _post_form(s: requests.Session, url: str, data: dict) -> requests.Response:
    form = s.get(url, timeout=20)
    return s.post(
        url, data={**data, "csrfmiddlewaretoken": _csrf(form.text)}, headers={"Referer": url}, timeout=20
    )


def browser_login(node, username: str, *, totp: bool) -> requests.Session:
    """A session logged in at `node` through its login form (and the TOTP step)."""
    s = requests.Session()
    r = _post_form(s, node.url + "/accounts/login/", {"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text[:500]
    if totp:
        code = node.manage("demo_totp", username).stdout.split()[0]
        r = _post_form(s, node.url + "/accounts/2fa/verify/", {"token": code})
        assert r.status_code == 200, r.text[:500]
    home = s.get(node.url + "/", timeout=20)
    assert home.status_code == 200 and "/accounts/login/" not in home.url and "/2fa/" not in home.url
    return s


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _share(net: Network, **extra: str) -> dict:
    args = ["exchange_demo", "share", "--peer", net["node2"].origin, "--clinician", "Ada Lovelace"]
    for k, v in extra.items():
        args += [f"--{k}", v]
    return _json_line(net["node1"].manage(*args, "--wait", "240", timeout=300).stdout)


def _registration_witnessed(net: Network, event_id: str) -> bool:
    r = net.get("node1", f"/api/v1/ledger/receipts/{event_id}")
    w = r.json().get("witnessed") if r.status_code == 200 else None
    return bool(w) and set(cosigners(w["checkpoint"], net, "node2", "node3")) == {"node2", "node3"}


def _remote_accesses(net: Network) -> list[dict]:
    origin = net["node1"].origin
    return [
        e
        for e in net.entries("node2")
        if e["event_type"] == "federation.remote_access" and e["payload"].get("log_origin") == origin
    ]


@pytest.fixture(scope="module")
def exchange(network: Network) -> Exchange:
    n1, n2 = network["node1"], network["node2"]
    for node, hospital in ((n1, "Hospital 1"), (n2, "Hospital 2")):
        node.manage("seed_demo", "--organisation", hospital)
    shared = _share(network)
    assert shared["clinician"] == "Ada Lovelace at Hospital 2"
    png = next(s for s in shared["scans"] if s["format"] == "png")
    wait_until(
        lambda: _registration_witnessed(network, png["registration_event_id"]),
        timeout=90,
        what="the PNG scan's registration witnessed by node2 and node3",
    )
    [(peer_id,)] = network.sql("node2", "SELECT id FROM federation_peer WHERE origin = %s", (n1.origin,))
    return Exchange(shared, browser_login(n2, "dr.ada", totp=True), int(peer_id), png["id"])


def _open(net: Network, ex: Exchange) -> requests.Response:
    return ex.ada.get(f"{net['node2'].url}/network/shared/{ex.peer_id}/{ex.png_scan}/", timeout=60)


def test_a_clinician_of_node2_opens_a_scan_node1_shares_with_a_verified_badge(network, exchange):
    listing = exchange.ada.get(network["node2"].url + "/network/shared/", timeout=60)
    assert listing.status_code == 200
    assert "Shared with you by Hospital 1" in listing.text and "Alice Patient" in listing.text
    assert f"/network/shared/{exchange.peer_id}/{exchange.png_scan}/" in listing.text

    before = len(_remote_accesses(network))
    page = _open(network, exchange)
    assert page.status_code == 200, page.text[:2000]
    assert 'id="integrity-badge">Verified<' in page.text, re.sub(r"\s+", " ", page.text)[:3000]
    assert 'src="data:image/png;base64,' in page.text
    # the access is on both ledgers: node1's scan.accessed entry, node2's federation.remote_access
    at_node1 = re.search(r"recorded at Hospital 1 \(event <code[^>]*>([0-9a-f-]{36})<", page.text).group(1)
    wait_until(
        lambda: any(e["event_id"] == at_node1 for e in network.entries("node1")),
        timeout=30,
        what="the access on node1's ledger",
    )
    recorded = wait_until(
        lambda: len(_remote_accesses(network)) > before and _remote_accesses(network)[-1],
        timeout=30,
        what="the access on node2's ledger",
    )
    assert recorded["payload"]["remote_event_id"] == at_node1
    assert recorded["payload"]["status"] == "verified"
    assert "Alice" not in json.dumps(recorded) and exchange.png_scan not in json.dumps(recorded)


def test_node1s_access_history_shows_the_clinician_at_hospital_2(network, exchange):
    alice = browser_login(network["node1"], "alice", totp=False)
    history = alice.get(network["node1"].url + "/access-history/", timeout=30)
    assert history.status_code == 200
    assert "Ada Lovelace at Hospital 2" in history.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _move_web(node, port: int) -> None:
    """node's web server on another port, its public base URL (and so the URLs peers sign)
    unchanged."""
    node.stop("web")
    node._spawn(
        "web",
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
    )
    wait_until(
        lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=60, what=f"{node.name} on port {port}"
    )


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_node1_going_away_mid_fetch_is_retried_and_nothing_partial_is_kept(network, exchange):
    n1 = network["node1"]
    objects = "/federation/v1/objects/"
    upstream = _free_port()
    _move_web(n1, upstream)
    proxy = FlakyProxy(n1.port, upstream)
    try:
        # cut off twice, whole the third time: node2 retries inside the request
        proxy.cut[objects] = 2
        before = len(_remote_accesses(network))
        page = _open(network, exchange)
        assert page.status_code == 200 and 'id="integrity-badge">Verified<' in page.text
        assert proxy.cuts_done[objects] == 2 and proxy.relayed[objects] == 1
        wait_until(
            lambda: len(_remote_accesses(network)) == before + 1, timeout=30, what="one access at node2"
        )

        # cut off every time: a clear error, and nothing recorded or kept at node2
        proxy.cut[objects] = 3
        page = _open(network, exchange)
        assert page.status_code == 503
        assert "Hospital 1 is not answering" in page.text and "Nothing was kept" in page.text
        assert "data:image/png" not in page.text
        assert proxy.cuts_done[objects] == 5
        time.sleep(3)  # an access recorded by mistake would be appended by now
        assert len(_remote_accesses(network)) == before + 1
    finally:
        proxy.stop()
        n1.stop("web")
    # node1 down altogether: the list says so, opening is a clear error
    listing = exchange.ada.get(network["node2"].url + "/network/shared/", timeout=60)
    assert listing.status_code == 200 and "Hospital 1 is not answering right now." in listing.text
    page = _open(network, exchange)
    assert page.status_code == 503 and "did not answer after 3 tries" in page.text
    n1.start_web()
    n1.wait_ready(worker=False)


def test_a_revocation_at_node1_is_refused_at_node2_on_the_next_request(network, exchange):
    assert _open(network, exchange).status_code == 200
    out = _json_line(
        network["node1"].manage("exchange_demo", "revoke", "--consent", exchange.shared["consent_id"]).stdout
    )
    assert out == {"revoked": True}
    page = _open(network, exchange)
    assert page.status_code == 403
    assert "revoked the consent" in page.text and "data:image/png" not in page.text
    listing = exchange.ada.get(network["node2"].url + "/network/shared/", timeout=60)
    assert exchange.png_scan not in listing.text


def test_an_expired_consent_is_refused_at_node2(network, exchange):
    shared = _share(network, seconds="20")
    assert _open(network, exchange).status_code == 200
    ends = datetime.fromisoformat(shared["ends_at"]).timestamp()
    time.sleep(max(0.0, ends - time.time()) + 1)
    page = _open(network, exchange)
    assert page.status_code == 403 and "expired" in page.text
