"""Node-to-node authentication (federation.nodeauth, federation.api_auth): B signs with its node
key (RFC 9421, Ed25519), A verifies with the node key it learned from B's verified node card and
refuses everything else with a problem, recorded, nothing else stored."""

import json
import time

import pytest
from django.test import Client

from federation import card, keys, nodeauth
from federation.models import NodeAuthRefusal, NodeKey, NodeNonce, RemoteClinician
from ledger import note
from portal import keys as portal_keys
from portal.models import Role, User, UserKeyPair
from tests.federation import twonode
from tests.federation.peer_log import PeerLog

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.federation.nodeauth_urls")]

PATH = "/federation/v1/whoami"
URL = twonode.A_BASE_URL + PATH


@pytest.fixture
def b(settings):
    """B trusted at A, B's clinician synced into A's directory."""
    twonode.be_node_b(settings)
    peer = twonode.trust_b(settings)
    clinician = twonode.b_clinician()
    twonode.sync_without_http(peer)
    return peer, clinician


def _get(headers: dict[str, str], path: str = PATH):
    return Client().get(path, headers=headers)


def _problem(r, status: int, title: str) -> dict:
    assert r.status_code == status, r.content
    assert r["Content-Type"] == "application/problem+json"
    body = json.loads(r.content)
    assert body["status"] == status and body["title"] == title, body
    assert body["detail"]
    return body


def _refused_once(title: str) -> NodeAuthRefusal:
    rows = list(NodeAuthRefusal.objects.all())
    assert [r.title for r in rows] == [title]
    assert not NodeNonce.objects.exists()  # nothing stored but the refusal
    return rows[0]


def test_a_signed_request_passes_as_the_shadow_user_of_the_clinician(b):
    peer, clinician = b
    r = _get(nodeauth.signed_headers("GET", URL, b"", str(clinician.pk)))
    assert r.status_code == 200, r.content
    shadow = RemoteClinician.objects.get(peer=peer, remote_id=clinician.pk).user
    assert r.json() == {
        "peer": twonode.B_ORIGIN,
        "clinician": str(shadow.pk),
        "name": f"Bea Barros at {twonode.B_NAME}",
    }
    assert shadow.role == Role.REMOTE_CLINICIAN and shadow.pk != clinician.pk
    assert NodeNonce.objects.filter(peer=peer).count() == 1
    assert not NodeAuthRefusal.objects.exists()


def test_a_signed_body_passes_and_a_body_that_does_not_match_its_digest_is_refused(b, caplog):
    _, clinician = b
    body = b'{"scan": "x"}'
    headers = nodeauth.signed_headers("POST", URL, body, str(clinician.pk))
    assert "Content-Digest" in headers and "content-digest" in headers["Signature-Input"]
    ok = Client().post(PATH, body, content_type="application/json", headers=headers)
    assert ok.status_code == 200 and ok.json() == {"size": len(body)}

    headers = nodeauth.signed_headers("POST", URL, body, str(clinician.pk))
    NodeNonce.objects.all().delete()
    r = Client().post(PATH, b'{"scan": "y"}', content_type="application/json", headers=headers)
    _problem(r, 401, "Content digest mismatch")
    _refused_once("Content digest mismatch")
    assert "node request refused: POST /federation/v1/whoami" in caplog.text


def test_a_bad_signature_is_refused(b):
    _, clinician = b
    headers = nodeauth.signed_headers("GET", URL, b"", str(clinician.pk))
    sig = headers["Signature"]  # qmc=:base64:
    headers["Signature"] = sig[:6] + ("A" if sig[6] != "A" else "B") + sig[7:]
    _problem(_get(headers), 401, "Bad signature")
    _refused_once("Bad signature")


def test_a_signature_for_another_path_or_clinician_is_refused(b):
    _, clinician = b
    other = twonode.b_clinician("Carl Costa")
    headers = nodeauth.signed_headers(
        "GET", twonode.A_BASE_URL + "/federation/v1/shared", b"", str(clinician.pk)
    )
    _problem(_get(headers), 401, "Bad signature")
    headers = nodeauth.signed_headers("GET", URL, b"", str(clinician.pk))
    headers[nodeauth.CLINICIAN_HEADER] = str(other.pk)  # covered: changing it breaks the signature
    _problem(_get(headers), 401, "Bad signature")
    assert NodeAuthRefusal.objects.count() == 2 and not NodeNonce.objects.exists()


def test_an_unknown_key_id_is_refused(b):
    peer, clinician = b
    headers = nodeauth.signed_headers("GET", URL, b"", str(clinician.pk))
    NodeKey.objects.filter(peer=peer).delete()  # A never learned B's node key
    _problem(_get(headers), 401, "Unknown key")
    row = _refused_once("Unknown key")
    assert row.peer is None and row.key_id == keys.ensure_node_key().key_id


def test_an_untrusted_peers_key_is_unknown(b):
    peer, clinician = b
    peer.trusted = False
    peer.save()
    _problem(_get(nodeauth.signed_headers("GET", URL, b"", str(clinician.pk))), 401, "Unknown key")


@pytest.mark.parametrize(
    "offset,title", [(-301, "Signature expired"), (301, "Signature from the future")], ids=["old", "future"]
)
def test_created_outside_five_minutes_is_refused(b, offset, title):
    _, clinician = b
    headers = nodeauth.signed_headers("GET", URL, b"", str(clinician.pk), created=int(time.time()) + offset)
    _problem(_get(headers), 401, title)
    row = _refused_once(title)
    assert row.peer is not None and row.peer.origin == twonode.B_ORIGIN


def test_created_within_five_minutes_passes(b):
    _, clinician = b
    for offset in (-290, 290):
        headers = nodeauth.signed_headers(
            "GET", URL, b"", str(clinician.pk), created=int(time.time()) + offset
        )
        assert _get(headers).status_code == 200


def test_a_replayed_nonce_is_refused(b):
    _, clinician = b
    headers = nodeauth.signed_headers("GET", URL, b"", str(clinician.pk))
    assert _get(headers).status_code == 200
    _problem(_get(headers), 401, "Replayed request")
    assert NodeNonce.objects.count() == 1
    assert [r.title for r in NodeAuthRefusal.objects.all()] == ["Replayed request"]


def test_a_clinician_not_in_the_directory_is_refused(b):
    peer, _ = b
    newcomer = twonode.b_clinician("Nina Novak")  # joined B after A's last sync
    body = _problem(
        _get(nodeauth.signed_headers("GET", URL, b"", str(newcomer.pk))),
        403,
        "Clinician not in the directory",
    )
    assert twonode.B_NAME in body["detail"]
    row = _refused_once("Clinician not in the directory")
    assert row.clinician_id == str(newcomer.pk) and row.peer == peer
    assert not RemoteClinician.objects.filter(remote_id=newcomer.pk).exists()


def test_a_clinician_removed_from_the_directory_is_refused_after_the_next_sync(b):
    peer, clinician = b
    assert _get(nodeauth.signed_headers("GET", URL, b"", str(clinician.pk))).status_code == 200
    clinician.is_active = False  # leaves B: B's directory no longer lists it
    clinician.save()
    result = twonode.sync_without_http(peer)
    assert result.deactivated == 1
    _problem(
        _get(nodeauth.signed_headers("GET", URL, b"", str(clinician.pk))),
        403,
        "Clinician not in the directory",
    )


def test_an_unsigned_request_is_refused_with_a_challenge():
    r = _get({})
    body = _problem(r, 401, "Signature required")
    assert "RFC 9421" in body["detail"]
    assert r["WWW-Authenticate"] == nodeauth.WWW_AUTHENTICATE
    _refused_once("Signature required")


def test_keypair_for_never_makes_a_private_key_for_a_remote_clinician(b):
    peer, clinician = b
    shadow = RemoteClinician.objects.get(peer=peer, remote_id=clinician.pk).user
    pair = portal_keys.keypair_for(shadow)
    assert bytes(pair.sealed_private_key) == b""
    assert bytes(pair.public_key) == bytes(portal_keys.keypair_for(clinician).public_key)  # B's published key
    UserKeyPair.objects.filter(user=shadow).delete()
    with pytest.raises(portal_keys.KeyAccessError):
        portal_keys.keypair_for(shadow)
    assert not UserKeyPair.objects.filter(user=shadow).exists()
    assert not shadow.has_usable_password()


# --- the node card carries the node key; A learns it only from a verified card -----------------


def test_the_node_card_carries_the_node_key(settings):
    twonode.be_node_b(settings)
    data = card.verify_card(card.signed_card(), keys.show_keys()["log"])
    key = keys.ensure_node_key()
    assert data["node_key"]["keyid"] == key.key_id and data["node_key"]["alg"] == "ed25519"
    assert nodeauth.parse_node_key(data["node_key"]) == (key.key_id, bytes(key.public_key))


def test_a_learns_the_node_key_from_bs_verified_card_over_http(settings):
    twonode.be_node_b(settings)
    with twonode.StaticPeer({nodeauth.CARD_PATH: card.signed_card()}) as server:
        peer = twonode.trust_b(settings, url=server.url)
        key = nodeauth.learn_node_key(peer)
    assert key.peer == peer and key.key_id == keys.ensure_node_key().key_id
    assert bytes(key.sealed_private_key) == b""


def test_a_card_not_signed_by_bs_trusted_log_keys_teaches_no_key(settings):
    twonode.be_node_b(settings)
    impostor = PeerLog(twonode.B_ORIGIN, algorithms=(note.ALG_ED25519, note.ALG_FALCON))
    # a card with B's origin and a node key, signed by keys A does not trust for B
    forged = note.sign_note(card.card_text(card.card()), impostor.signers)
    with twonode.StaticPeer({nodeauth.CARD_PATH: forged}) as server:
        peer = twonode.trust_b(settings, url=server.url)
        with pytest.raises(card.CardError):
            nodeauth.learn_node_key(peer)
    assert not NodeKey.objects.filter(peer__isnull=False).exists()


def test_a_new_node_key_in_the_card_retires_the_old_one(b):
    peer, clinician = b
    old = NodeKey.objects.get(peer=peer)
    own = keys.ensure_node_key()
    own.retired_at = own.created_at
    own.save()
    keys._node_key_cache.clear()
    twonode.sync_without_http(peer)  # B's card now names its new key
    old.refresh_from_db()
    assert old.retired_at is not None
    assert NodeKey.objects.get(peer=peer, retired_at__isnull=True).key_id == keys.ensure_node_key().key_id
    assert _get(nodeauth.signed_headers("GET", URL, b"", str(clinician.pk))).status_code == 200
    assert User.objects.filter(role=Role.REMOTE_CLINICIAN).count() == 1
