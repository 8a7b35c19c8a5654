"""The network's web pages over HTTP: the auditors' network page, a peer's page with the
simulated quantum checks, evidence (list and offline-checkable JSON), and the administrators'
add-peer page with its fingerprint confirmation. CSRF, methods and bad input are tried too; who
may open which page is the matrix in tests/api/test_matrix.py (NETWORK_MATRIX)."""

from __future__ import annotations

import json
import time

import pytest
from django.template.defaultfilters import floatformat
from django.test import Client
from django.urls import reverse

from federation import keys, push, quorum, views
from federation.evidence import record_evidence
from federation.models import Peer, PeerKey, QuantumCheck
from federation.peers import add_peer, fingerprint, witness_verifiers
from federation.seen import remember
from ledger import equivocation, note
from ledger import services as ledger_services
from tests.factories import (
    AdminFactory,
    AuditorFactory,
    login_verified,
)
from tests.federation.peer_log import PeerLog

pytestmark = pytest.mark.django_db

B_ORIGIN = "hospital-b.example/ledger"
B_WITNESS = "hospital-b.example/witness"


@pytest.fixture
def node(settings):
    settings.LEDGER_ORIGIN = "hospital-a.example/ledger"
    settings.FEDERATION_WITNESS_NAME = "hospital-a.example/witness"
    settings.FEDERATION_NODE_NAME = "Hospital A"
    settings.FEDERATION_POLICY_FILE = ""
    keys._signer_cache.clear()
    return settings


class Hospital:
    """Hospital B: a log (PeerLog) and a witness key, trusted here with role both."""

    def __init__(self):
        self.log = PeerLog(B_ORIGIN, leaves=7)
        self.witness = note.Signer(B_WITNESS, note.ALG_COSIG_V1, *note.generate(note.ALG_COSIG_V1))
        self.peer = add_peer(
            origin=B_ORIGIN,
            vkeys=[*self.log.vkeys, self.witness.verifier().vkey],
            url="https://b.example",
            name="Hospital B",
        )

    def cosign(self, cp) -> None:
        """B cosigns one of our checkpoints; the lines go through the log side's own checks."""
        text, _ = note.split_note(cp.note)
        lines = note.signature_lines(text, [self.witness], timestamp=int(time.time()))
        good, rejected = push.verify_lines(cp.note, lines, witness_verifiers(self.peer))
        assert good and not rejected
        for c in good:
            c.checkpoint, c.peer = cp, self.peer
            c.save()
        quorum.update_witnessed(cp)


def our_checkpoint():
    ledger_services.record_event(event_type="model.registered", payload={"model_id": "network-page-test"})
    ledger_services.append_all()
    return ledger_services.create_checkpoint(force=True)


@pytest.fixture
def b(node):
    return Hospital()


@pytest.fixture
def auditor(client):
    return login_verified(client, AuditorFactory())


@pytest.fixture
def admin(client):
    return login_verified(client, AdminFactory())


def lie(b: Hospital):
    """B signs two checkpoints of size 7 with different roots; a monitor records it."""
    honest = b.log.checkpoint()
    forked = b.log.fork(3).checkpoint()
    return record_evidence(peer=b.peer, first_note=honest, second_note=forked, proof=None, via="monitor")


# --- who may see what ---------------------------------------------------------------------------

# every role's outcome on every page: tests/api/test_matrix.py (NETWORK_MATRIX)


def test_pages_answer_404_for_what_does_not_exist(b, auditor):
    assert auditor.get(reverse("federation:peer", kwargs={"peer_id": 999999})).status_code == 404
    assert auditor.post(reverse("federation:peer-quantum", kwargs={"peer_id": 999999})).status_code == 404
    assert auditor.get(reverse("federation:evidence-json", kwargs={"evidence_id": 999999})).status_code == 404


def test_reading_pages_refuse_post_and_posts_need_a_csrf_token(b):
    user = AdminFactory()
    strict = login_verified(Client(enforce_csrf_checks=True), user)
    quantum_url = reverse("federation:peer-quantum", kwargs={"peer_id": b.peer.pk})
    assert strict.post(quantum_url).status_code == 403
    add = strict.post(reverse("federation:peer-add"), {"step": "preview", "origin": "x", "vkeys": "y"})
    assert add.status_code == 403
    assert not QuantumCheck.objects.exists()
    assert strict.get(quantum_url).status_code == 405
    page = strict.get(reverse("federation:peer", kwargs={"peer_id": b.peer.pk}))
    token = page.cookies["csrftoken"].value
    assert strict.post(quantum_url, HTTP_X_CSRFTOKEN=token).status_code == 302
    assert QuantumCheck.objects.count() == 1
    assert strict.post(reverse("federation:network"), HTTP_X_CSRFTOKEN=token).status_code == 405


# --- the network page ---------------------------------------------------------------------------


def test_network_page_shows_the_node_its_peers_and_witnessed_checkpoints(b, auditor):
    cp = our_checkpoint()
    b.cosign(cp)
    unwitnessed = our_checkpoint()
    remember(
        b.peer,
        note.parse_checkpoint(note.split_note(b.log.checkpoint())[0]),
        b.log.checkpoint(),
        source="fetched",
    )
    r = auditor.get(reverse("federation:network"))
    assert r.status_code == 200
    html = r.content.decode()
    shown = keys.show_keys()
    assert (
        "hospital-a.example/ledger" in html and "hospital-a.example/witness" in html and "Hospital A" in html
    )
    for vkey in [*shown["log"], *shown["witness"]]:
        v = note.parse_vkey(vkey)
        assert fingerprint(v) in html and v.key_id_hex in html
    assert "Hospital B" in html and "trusted" in html
    assert "size 7" in html  # the last checkpoint seen of B's log
    rows = {row.checkpoint.pk: row for row in r.context["checkpoints"]}
    assert rows[cp.pk].witnessed and [c.witness for c in rows[cp.pk].cosignatures] == ["Hospital B"]
    assert rows[cp.pk].cosignatures[0].algorithm == note.ALG_COSIG_V1
    assert not rows[unwitnessed.pk].witnessed and not rows[unwitnessed.pk].cosignatures
    assert "1 of 1" in html  # majority of one witness, said plainly
    assert html.count('<span class="badge ok">witnessed</span>') == 1
    assert html.count('<span class="badge warn">not yet</span>') == 1
    for word in ("<dt>Checkpoint</dt>", "<dt>Witness</dt>", "<dt>Cosigned</dt>"):
        assert html.count(word) == 1
    assert 'role="alert"' not in html


def test_quorum_is_said_plainly_from_a_policy_file(b, node, tmp_path, auditor):
    ws = {f"w{i}": note.generate(note.ALG_COSIG_V1)[0] for i in range(3)}
    policy = "".join(f"witness {n} {pk.hex()}\n" for n, pk in ws.items()) + "group g 2 w0 w1 w2\nquorum g\n"
    (tmp_path / "policy").write_text(policy)
    node.FEDERATION_POLICY_FILE = str(tmp_path / "policy")
    html = auditor.get(reverse("federation:network")).content.decode()
    assert "<strong>2 of 3</strong>" in html and "w0, w1, w2" in html and "policy file" in html
    (tmp_path / "policy").write_text("quorum nobody\n")
    r = auditor.get(reverse("federation:network"))
    assert r.status_code == 200 and "The witness policy cannot be read" in r.content.decode()


def test_an_alert_shows_once_evidence_exists(b, auditor):
    assert 'role="alert"' not in auditor.get(reverse("federation:network")).content.decode()
    ev = lie(b)
    html = auditor.get(reverse("federation:network")).content.decode()
    assert 'class="card net-alert" role="alert"' in html and "evidence that a hospital" in html
    assert "not trusted" in html
    listing = auditor.get(reverse("federation:evidence-list")).content.decode()
    assert reverse("federation:evidence-json", kwargs={"evidence_id": ev.pk}) in listing
    assert "same size, different roots" in listing


# --- evidence -----------------------------------------------------------------------------------


def test_evidence_json_verifies_offline(b, auditor):
    ev = lie(b)
    r = auditor.get(reverse("federation:evidence-json", kwargs={"evidence_id": ev.pk}))
    assert r.status_code == 200
    assert r["Content-Type"] == "application/json"
    assert r["Content-Disposition"] == f'attachment; filename="evidence-{ev.pk}.json"'
    data = json.loads(r.content)
    assert data["origin"] == B_ORIGIN and data["log_keys"] == b.log.vkeys
    # offline: the downloaded file and the log's keys as B published them, the pure library only
    checked = equivocation.verify_evidence(data["evidence"], b.log.verifiers)
    assert checked.kind == "same-size"
    assert {checked.first, checked.second} == {ev.first_note, ev.second_note}
    other = PeerLog(B_ORIGIN)  # someone else's keys under the same name do not make it check
    with pytest.raises(equivocation.EvidenceError):
        equivocation.verify_evidence(data["evidence"], other.verifiers)


# --- the peer page and its simulated quantum layer ------------------------------------------------


def test_peer_page_shows_keys_history_evidence_and_the_labelled_simulation(b, auditor):
    first = b.log.checkpoint(5)
    remember(b.peer, note.parse_checkpoint(note.split_note(first)[0]), first, source="pushed")
    ev = lie(b)
    url = reverse("federation:peer", kwargs={"peer_id": b.peer.pk})
    html = auditor.get(url).content.decode()
    for k in PeerKey.objects.filter(peer=b.peer):
        v = note.parse_vkey(k.vkey)
        assert fingerprint(v) in html and v.key_id_hex in html and v.algorithm in html
    assert b.log.root(5).hex() in html
    assert reverse("federation:evidence-json", kwargs={"evidence_id": ev.pk}) in html
    assert "SIMULATION" in html and "Not run yet" in html
    assert "Ed25519, ML-DSA-44 and Falcon-512 signatures" in html and "ML-KEM" in html

    assert auditor.post(reverse("federation:peer-quantum", kwargs={"peer_id": b.peer.pk})).status_code == 302
    check = QuantumCheck.objects.get(peer=b.peer)
    html = auditor.get(url).content.decode()
    res = check.results
    assert res["simulated"] is True
    assert res["bell"]["clean"]["errors"] == 0 and not res["bell"]["clean"]["detected"]
    assert res["bell"]["eavesdropper"]["detection_rate"] > 0.9
    assert res["qkd"]["clean"]["qber"] == 0 and res["qkd"]["clean"]["hybrid_keys_match"] is True
    assert res["qkd"]["eavesdropper"]["aborted"] and res["qkd"]["eavesdropper"]["qber"] > 0.11
    assert "Not run yet" not in html and "eavesdropper detected" in html
    assert floatformat(res["qkd"]["eavesdropper"]["qber"], 3) in html
    auditor.post(reverse("federation:peer-quantum", kwargs={"peer_id": b.peer.pk}))
    assert QuantumCheck.objects.count() == 1  # not again within seconds: each run costs a second of CPU
    QuantumCheck.objects.update(ran_at=check.ran_at - views.RERUN_INTERVAL)
    auditor.post(reverse("federation:peer-quantum", kwargs={"peer_id": b.peer.pk}))
    assert QuantumCheck.objects.count() == 2


# --- adding a peer --------------------------------------------------------------------------------


def c_input(log=None, **over):
    log = log or PeerLog("hospital-c.example/ledger")
    witness = note.vkey("hospital-c.example/witness", note.ALG_COSIG_V1, note.generate(note.ALG_COSIG_V1)[0])
    data = {
        "origin": log.origin,
        "vkeys": "\n".join([*log.vkeys, witness]),
        "url": "https://c.example",
        "role": "both",
        "name": "Hospital C",
    }
    return {**data, **over}


def test_add_peer_shows_fingerprints_then_trusts_only_after_confirmation(node, admin):
    url = reverse("federation:peer-add")
    data = c_input()
    assert admin.get(url).status_code == 200
    r = admin.post(url, {**data, "step": "preview"})
    assert r.status_code == 200
    html = r.content.decode()
    for line in data["vkeys"].splitlines():
        v = note.parse_vkey(line)
        assert fingerprint(v) in html and v.key_id_hex in html and v.algorithm in html and v.name in html
    assert not Peer.objects.exists()
    digest = r.context["confirm"].initial["digest"]

    r = admin.post(url, {**data, "step": "confirm", "digest": digest})  # not ticked
    assert r.status_code == 400 and not Peer.objects.exists()
    r = admin.post(
        url, {**data, "url": "https://evil.example", "step": "confirm", "digest": digest, "confirm": "on"}
    )
    assert r.status_code == 400 and not Peer.objects.exists()  # changed after the fingerprints were shown

    r = admin.post(url, {**data, "step": "confirm", "digest": digest, "confirm": "on"})
    peer = Peer.objects.get(origin="hospital-c.example/ledger")
    assert r.status_code == 302 and r["Location"] == reverse("federation:peer", kwargs={"peer_id": peer.pk})
    assert (peer.name, peer.url, peer.role, peer.trusted) == ("Hospital C", "https://c.example", "both", True)
    assert sorted(PeerKey.objects.filter(peer=peer).values_list("vkey", flat=True)) == sorted(
        data["vkeys"].splitlines()
    )
    assert QuantumCheck.objects.filter(peer=peer).count() == 1  # run at set-up


@pytest.mark.parametrize(
    "over, message",
    [
        ({"vkeys": "not-a-key"}, "malformed verifier key"),
        ({"vkeys": ""}, "This field is required"),
        ({"origin": "hospital-a.example/ledger"}, "key 1 is a"),
        ({"url": "ftp://c.example"}, "Enter a valid URL"),
        ({"role": "king"}, "Select a valid choice"),
    ],
)
def test_add_peer_refuses_bad_input_with_a_message(node, admin, over, message):
    for step in ("preview", "confirm"):
        r = admin.post(reverse("federation:peer-add"), {**c_input(**over), "step": step, "confirm": "on"})
        assert r.status_code == 400
        assert message in r.content.decode()
    assert not Peer.objects.exists()


def test_add_peer_refuses_our_own_origin_at_confirmation(node, admin):
    own = PeerLog("hospital-a.example/ledger")
    data = c_input(own, origin="hospital-a.example/ledger")
    url = reverse("federation:peer-add")
    digest = admin.post(url, {**data, "step": "preview"}).context["confirm"].initial["digest"]
    r = admin.post(url, {**data, "step": "confirm", "digest": digest, "confirm": "on"})
    assert r.status_code == 400 and "this node&#x27;s own log" in r.content.decode()
    assert not Peer.objects.exists()


def test_add_peer_prefills_from_a_node_card_without_trusting_it(node, admin, live_server):
    r = admin.post(reverse("federation:peer-add"), {"step": "card", "card-url": live_server.url})
    assert r.status_code == 200, r.content.decode()[:2000]
    html = r.content.decode()
    assert "NOT trusted" in html
    form = r.context["form"]
    shown = keys.show_keys()
    assert form.initial["origin"] == shown["origin"]
    assert form.initial["vkeys"].splitlines() == [*shown["log"], *shown["witness"]]
    assert not Peer.objects.exists()


def test_add_peer_says_when_the_card_cannot_be_fetched(node, admin):
    r = admin.post(reverse("federation:peer-add"), {"step": "card", "card-url": "http://127.0.0.1:9"})
    assert r.status_code == 400 and "unreachable" in r.content.decode()
    r = admin.post(reverse("federation:peer-add"), {"step": "card", "card-url": ""})
    assert r.status_code == 400
