"""The clinician's node (federation/remote.py, federation/views_remote.py): opening a scan another
hospital shares, over real HTTP to a node A that answers as its node API does (and misbehaves
as a peer can): signed requests, the ciphertext checked against its SHA-256 and CID, the key
unwrapped with the clinician's own private key, the receipt checked against A's log keys and a
witnessed checkpoint this node cosigned, the access recorded here; retries when A goes away,
and nothing kept when it cannot be shown."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import pytest
from django.urls import reverse

from federation import keys, remote
from federation.models import WitnessedLog
from federation.peers import add_peer, log_verifiers
from ledger import note
from ledger.models import Checkpoint, PendingEvent
from ledger.selectors import consistency_proof
from ledger.services import append_all, create_checkpoint, record_event
from tests.factories import ClinicianFactory, PatientFactory, login_verified
from tests.federation.exchange_world import A_ORIGIN, serve, shared_scan, witness
from tests.federation.fake_node_a import FakeNodeA
from tests.federation.logside import Witness

pytestmark = pytest.mark.django_db


@pytest.fixture
def a_node():
    server = FakeNodeA()
    yield server
    server.stop()


@pytest.fixture
def world(settings, a_node, monkeypatch):
    keys._signer_cache.clear()
    monkeypatch.setattr(remote, "BACKOFF", (0.01, 0.01))
    clinician = ClinicianFactory(first_name="Bea", last_name="Barros")
    w = shared_scan(settings, clinician)
    serve(w, a_node)
    return w


def _remote_accesses() -> list[dict]:
    return [json.loads(e.payload) for e in PendingEvent.objects.filter(event_type=remote.EVENT_TYPE)]


def _scan_path(w) -> str:
    return f"/federation/v1/scans/{w.scan_id}"


def _object_path(w) -> str:
    return f"/federation/v1/objects/{w.object_id}"


def test_a_shared_scan_opens_verified_and_the_access_is_recorded_here(world, a_node):
    opened = remote.open_scan(world.clinician, world.peer, world.scan_id)

    assert opened.preview_png == world.png
    assert opened.integrity.verified, opened.integrity.reason
    assert opened.integrity.event_id == str(world.registration)
    assert opened.integrity.witnessed_size == world.checkpoint.tree_size
    assert opened.remote_event_id == str(world.access_event)
    # both requests were signed for this clinician with this node's node key
    for path in (_scan_path(world), _object_path(world)):
        [(_, headers)] = [r for r in a_node.requests if r[0] == path]
        assert headers["x-qmc-clinician"] == str(world.clinician.pk)
        assert 'tag="qmedchain-node"' in headers["signature-input"] and headers["signature"]
    [recorded] = _remote_accesses()
    assert recorded["log_origin"] == A_ORIGIN
    assert recorded["remote_event_id"] == str(world.access_event)
    assert recorded["status"] == "verified"
    assert not set(recorded) & {"scan_id", "patient", "subject"}  # nothing about the patient here


@pytest.mark.parametrize(
    "tamper",
    ["flipped_byte", "wrong_cid", "wrong_sha256"],
)
def test_ciphertext_that_does_not_match_its_sha256_or_cid_is_refused(world, a_node, tamper):
    if tamper == "flipped_byte":  # the bytes changed on the way
        blob = bytearray(world.blob)
        blob[len(blob) // 2] ^= 1
        a_node.bytes(_object_path(world), bytes(blob))
    elif tamper == "wrong_cid":  # the SHA-256 matches, the CID names other bytes
        serve(world, a_node, cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    else:
        serve(world, a_node, ciphertext_sha256=hashlib.sha256(b"other").hexdigest())

    with pytest.raises(remote.RemoteError) as exc:
        remote.open_scan(world.clinician, world.peer, world.scan_id)
    assert exc.value.status == 502 and "not the one named" in exc.value.title
    assert not _remote_accesses()


def test_a_receipt_whose_checkpoint_the_quorum_did_not_witness_is_not_verified(world, a_node):
    # a second witness this node knows: the quorum is now 2 of 2, and A's checkpoint carries
    # this node's cosignature only
    Witness(1)
    opened = remote.open_scan(world.clinician, world.peer, world.scan_id)
    assert not opened.integrity.verified
    assert "quorum" in opened.integrity.reason and "not met" in opened.integrity.reason

    # once the other witness cosigned too, the same scan verifies
    w1 = Witness(2)  # a third known witness: 2 of 3 needed
    witness(world.checkpoint, keys.witness_signers(), [w1.signer])
    serve(world, a_node)
    assert remote.open_scan(world.clinician, world.peer, world.scan_id).integrity.verified


def test_a_checkpoint_this_node_did_not_cosign_is_not_verified(settings, a_node):
    keys._signer_cache.clear()
    w = shared_scan(settings, ClinicianFactory(), cosign=False)
    others = [Witness(1), Witness(2)]  # they met the quorum (2 of 3) without this node
    witness(w.checkpoint, [others[0].signer], [others[1].signer])
    serve(w, a_node)
    opened = remote.open_scan(w.clinician, w.peer, w.scan_id)
    assert not opened.integrity.verified
    assert "did not cosign" in opened.integrity.reason


def test_a_checkpoint_inconsistent_with_what_this_node_cosigned_is_not_verified(world):
    WitnessedLog.objects.filter(peer=world.peer).update(root_hash=b"\x01" * 32)
    opened = remote.open_scan(world.clinician, world.peer, world.scan_id)
    assert not opened.integrity.verified
    assert "differs from the one this hospital cosigned" in opened.integrity.reason


def test_a_receipt_of_another_object_is_not_verified(world, a_node):
    doc = world.document()
    receipt = doc["registration"]["receipt"]
    receipt["openings"]["derived_sha256"]["value"] = hashlib.sha256(b"x").hexdigest()  # a lie about it
    a_node.json(_scan_path(world), doc)
    opened = remote.open_scan(world.clinician, world.peer, world.scan_id)
    assert not opened.integrity.verified
    assert "does not verify" in opened.integrity.reason  # the opening fails its commitment


def test_a_wrap_bound_to_another_object_is_refused(world, a_node):
    wrapped, context = world.wrap(object_id=uuid.uuid4())
    serve(world, a_node, wrapped_key=wrapped, wrap_context=context)
    with pytest.raises(remote.RemoteError, match="another object"):
        remote.open_scan(world.clinician, world.peer, world.scan_id)
    assert not _remote_accesses()


def test_a_key_wrapped_for_another_clinician_does_not_open(world, a_node):
    other = ClinicianFactory()
    with pytest.raises(remote.RemoteError) as exc:
        remote.open_scan(other, world.peer, world.scan_id)
    assert exc.value.status == 403 and "does not open" in exc.value.title
    assert not _remote_accesses()


def test_node_a_cut_off_mid_transfer_is_retried(world, a_node):
    a_node.cut[_object_path(world)] = 2
    opened = remote.open_scan(world.clinician, world.peer, world.scan_id)
    assert opened.preview_png == world.png and opened.integrity.verified
    assert a_node.asked(_object_path(world)) == 3 and opened.tries == 4
    # each try was a new signature: A would refuse a replayed nonce
    nonces = {h["signature-input"] for p, h in a_node.requests if p == _object_path(world)}
    assert len(nonces) == 3


def test_node_a_going_away_mid_fetch_is_a_clear_error_and_nothing_is_kept(world, a_node):
    a_node.cut[_object_path(world)] = remote.TRIES
    with pytest.raises(remote.RemoteError) as exc:
        remote.open_scan(world.clinician, world.peer, world.scan_id)
    assert exc.value.status == 503 and "Hospital A is not answering" == exc.value.title
    assert "Nothing was kept" in exc.value.detail
    assert a_node.asked(_object_path(world)) == remote.TRIES
    assert not _remote_accesses()


def test_node_a_down_is_a_clear_error(world, a_node):
    a_node.stop()
    with pytest.raises(remote.RemoteError) as exc:
        remote.open_scan(world.clinician, world.peer, world.scan_id)
    assert exc.value.status == 503 and "did not answer after 3 tries" in exc.value.detail
    assert not _remote_accesses()


@pytest.mark.parametrize(
    "status, title, detail, shown",
    [
        (403, "Forbidden", "The patient has revoked the consent that gave you access.", 403),
        (404, "Not Found", "No such scan, or it is not shared with you.", 404),
        (401, "Bad signature", "The signature does not verify with the peer's node key.", 502),
    ],
)
def test_a_refusal_by_node_a_is_shown_in_its_words_and_not_retried(
    world, a_node, status, title, detail, shown
):
    a_node.json(_scan_path(world), {"title": title, "status": status, "detail": detail}, status=status)
    with pytest.raises(remote.RemoteError) as exc:
        remote.open_scan(world.clinician, world.peer, world.scan_id)
    assert exc.value.status == shown and detail in exc.value.detail
    assert a_node.asked(_scan_path(world)) == 1 and a_node.asked(_object_path(world)) == 0
    assert not _remote_accesses()


# --- the pages ----------------------------------------------------------------------------------


def test_the_list_shows_what_each_hospital_shares(world, client):
    login_verified(client, world.clinician)
    r = client.get(reverse("federation:shared"))
    assert r.status_code == 200
    text = r.content.decode()
    assert "Shared with you by Hospital A" in text and "Alice Patient" in text
    assert reverse("federation:remote-scan", args=[world.peer.pk, world.scan_id]) in text


def test_the_list_says_when_a_hospital_is_down(world, a_node, client):
    a_node.stop()
    login_verified(client, world.clinician)
    r = client.get(reverse("federation:shared"))
    assert r.status_code == 200 and "Hospital A is not answering right now." in r.content.decode()


def test_the_viewer_shows_the_image_with_a_verified_badge(world, client):
    login_verified(client, world.clinician)
    r = client.get(reverse("federation:remote-scan", args=[world.peer.pk, world.scan_id]))
    assert r.status_code == 200
    text = r.content.decode()
    assert 'id="integrity-badge">Verified<' in text
    assert 'src="data:image/png;base64,' in text and "Alice Patient" in text
    assert "<script" not in text.split("</main>")[0].split("<main")[-1]  # CSP: no inline script
    assert 'style="' not in text
    assert r["Cache-Control"].startswith("max-age=0")


def test_the_viewer_refuses_a_tampered_image_with_a_clear_page(world, a_node, client):
    a_node.bytes(_object_path(world), world.blob[:-1] + bytes([world.blob[-1] ^ 1]))
    login_verified(client, world.clinician)
    r = client.get(reverse("federation:remote-scan", args=[world.peer.pk, world.scan_id]))
    assert r.status_code == 502
    assert "does not match its SHA-256" in r.content.decode()
    assert "data:image/png" not in r.content.decode()


@pytest.mark.parametrize("who, expected", [("patient", 403), ("anonymous", 302), ("unknown_peer", 404)])
def test_only_this_hospitals_clinicians_open_shared_scans(world, client, who, expected):
    peer_id = world.peer.pk
    if who == "patient":
        client.force_login(PatientFactory())
    elif who == "unknown_peer":
        login_verified(client, world.clinician)
        peer_id += 1000
    r = client.get(reverse("federation:remote-scan", args=[peer_id, world.scan_id]))
    assert r.status_code == expected
    if who != "unknown_peer":
        assert client.get(reverse("federation:shared")).status_code == expected


def _grow_a_log() -> Checkpoint:
    record_event(event_type="key.rotated", payload={"new_key_id": "0a0b0c0d"}, enqueue=False)
    append_all()
    return create_checkpoint(force=True)


@pytest.mark.parametrize("proof_ok", [True, False])
def test_a_witnessed_checkpoint_older_than_what_this_node_cosigned_needs_a_consistency_proof(
    world, a_node, proof_ok
):
    """B cosigned a later checkpoint of A's log than the one the receipt carries: A's public
    consistency proof between the two must verify."""
    first = world.checkpoint.tree_size
    later = _grow_a_log()
    WitnessedLog.objects.filter(peer=world.peer).update(size=later.tree_size, root_hash=later.root_hash)
    proof = consistency_proof(first, later.tree_size)
    if not proof_ok:
        proof = [bytes(32)] * len(proof)
    a_node.json(
        "/api/v1/ledger/proof/consistency",
        {"first": first, "second": later.tree_size, "proof": [base64.b64encode(h).decode() for h in proof]},
    )
    serve(world, a_node)
    opened = remote.open_scan(world.clinician, world.peer, world.scan_id)
    assert opened.integrity.witnessed_size == first
    assert opened.integrity.verified is proof_ok, opened.integrity.reason
    if not proof_ok:
        assert "not consistent with what this hospital cosigned" in opened.integrity.reason


def test_the_quorum_counts_each_known_witness_once_and_never_the_log_itself(world):
    w1 = Witness(1)
    rotated = note.Signer(w1.name, note.ALG_COSIG_V1, *note.generate(note.ALG_COSIG_V1))
    add_peer(origin=w1.peer.origin, vkeys=[rotated.verifier().vkey], role="witness")  # its new key
    policy = remote.quorum_policy(world.peer)
    assert sorted(policy.witnesses) == sorted([keys.witness_name(), w1.name])
    assert policy.groups[policy.quorum].threshold == 2  # a majority of 2
    assert {log.public_key for log in policy.logs} == {
        v.public_key for v in log_verifiers(world.peer) if v.algorithm == note.ALG_ED25519
    }
