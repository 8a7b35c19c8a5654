"""The signed clinician directory: B serves it (`GET /network/directory`, over a live server),
A verifies it with B's trusted log keys and keeps B's clinicians as shadow users; a directory
that fails a check changes nothing."""

import base64

import pytest
import requests
from django.test import Client

from crypto import hybrid_kem
from federation import card, directory, http, keys, nodeauth
from federation.models import NodeKey, RemoteClinician
from ledger import canonical, note
from portal import consent_services, policy
from portal import keys as portal_keys
from portal.models import Role, User, UserKeyPair
from tests.factories import PatientFactory
from tests.federation import twonode
from tests.federation.peer_log import PeerLog

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def peer(settings, live_server):
    """B (this process, served by the live server), trusted at A with B's real log keys."""
    twonode.be_node_b(settings)
    peer = twonode.trust_b(settings, url=live_server.url)
    yield peer
    http.close()


def _remote_users():
    return User.objects.filter(role=Role.REMOTE_CLINICIAN)


def _nothing_stored():
    assert not RemoteClinician.objects.exists()
    assert not _remote_users().exists()
    assert not NodeKey.objects.filter(peer__isnull=False).exists()


def test_the_directory_is_a_note_signed_by_the_logs_keys(peer):
    bea = twonode.b_clinician()
    r = requests.get(peer.url + directory.DIRECTORY_PATH, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    data = directory.verify_directory(r.text, peer)
    assert data["origin"] == twonode.B_ORIGIN and data["node"] == twonode.B_NAME
    [entry] = data["clinicians"]
    pair = portal_keys.keypair_for(bea)
    assert entry["id"] == bea.pk and entry["display_name"] == "Bea Barros"
    assert entry["organisation"] == twonode.B_NAME
    assert entry["public_key"] == bytes(pair.public_key) and entry["fingerprint"] == pair.fingerprint
    assert Client().post(directory.DIRECTORY_PATH).status_code == 405


def test_sync_makes_each_clinician_a_shadow_user_with_a_public_key_only(peer):
    bea, carl = twonode.b_clinician(), twonode.b_clinician("Carl Costa")
    result = directory.fetch_and_sync(peer)
    assert (result.added, result.updated, result.deactivated) == (2, 0, 0)
    assert result.node_key_id == keys.ensure_node_key().key_id
    assert NodeKey.objects.get(peer=peer).key_id == result.node_key_id  # learned from B's verified card
    for clinician in (bea, carl):
        remote = RemoteClinician.objects.get(peer=peer, remote_id=clinician.pk)
        shadow = remote.user
        assert shadow.role == Role.REMOTE_CLINICIAN and shadow.is_active and shadow.organisation is None
        assert not shadow.has_usable_password()
        assert shadow.display_name() == f"{clinician.get_full_name()} at {twonode.B_NAME}"
        pair = UserKeyPair.objects.get(user=shadow)
        assert bytes(pair.public_key) == bytes(portal_keys.keypair_for(clinician).public_key)
        assert bytes(pair.sealed_private_key) == b"" and pair.fingerprint == remote.fingerprint
        assert remote.directory_version == result.version

    again = directory.fetch_and_sync(peer)
    assert (again.added, again.updated, again.deactivated) == (0, 0, 0)
    assert _remote_users().count() == 2


def test_a_directory_whose_signature_fails_is_refused_and_nothing_stored(peer, settings):
    twonode.b_clinician()
    forged = directory.signed_directory().replace("Bea Barros", "Eve Barros")
    with twonode.StaticPeer(
        {nodeauth.CARD_PATH: card.signed_card(), directory.DIRECTORY_PATH: forged}
    ) as server:
        peer.url = server.url
        peer.save()
        with pytest.raises(directory.DirectoryError, match="signature"):
            directory.fetch_and_sync(peer)
    _nothing_stored()


def test_a_directory_signed_by_keys_not_trusted_for_b_is_refused(peer):
    twonode.b_clinician()
    impostor = PeerLog(twonode.B_ORIGIN, algorithms=(note.ALG_ED25519, note.ALG_FALCON))
    text = directory.signed_directory().split("\n\n")[0] + "\n"
    with twonode.StaticPeer(
        {
            nodeauth.CARD_PATH: card.signed_card(),
            directory.DIRECTORY_PATH: note.sign_note(text, impostor.signers),
        }
    ) as server:
        peer.url = server.url
        peer.save()
        with pytest.raises(directory.DirectoryError, match="signature"):
            directory.fetch_and_sync(peer)
    _nothing_stored()


def test_a_removed_clinician_is_deactivated_and_its_consent_stops_working(peer):
    bea, carl = twonode.b_clinician(), twonode.b_clinician("Carl Costa")
    directory.fetch_and_sync(peer)
    shadow = RemoteClinician.objects.get(remote_id=carl.pk).user
    patient = PatientFactory()
    consent_services.consent_grant(patient=patient, actions=["view"], purposes=["TREAT"], grantee_user=shadow)
    assert policy.decide(shadow, "view", patient).allowed

    carl.is_active = False  # leaves hospital B
    carl.save()
    result = directory.fetch_and_sync(peer)
    assert result.deactivated == 1
    remote = RemoteClinician.objects.get(remote_id=carl.pk)
    remote.user.refresh_from_db()
    assert not remote.active and not remote.user.is_active
    assert not policy.decide(remote.user, "view", patient).allowed
    assert RemoteClinician.objects.get(remote_id=bea.pk).user.is_active

    carl.is_active = True  # back at B: listed again, active again
    carl.save()
    assert directory.fetch_and_sync(peer).updated == 1
    assert RemoteClinician.objects.get(remote_id=carl.pk, active=True).user.is_active


def test_an_older_directory_is_refused(peer):
    twonode.b_clinician()
    carl = twonode.b_clinician("Carl Costa")
    old = directory.signed_directory()  # both listed
    directory.fetch_and_sync(peer)
    carl.is_active = False
    carl.save()
    directory.fetch_and_sync(peer)
    with twonode.StaticPeer(
        {nodeauth.CARD_PATH: card.signed_card(), directory.DIRECTORY_PATH: old}
    ) as server:
        peer.url = server.url
        peer.save()
        with pytest.raises(directory.DirectoryError, match="older"):
            directory.fetch_and_sync(peer)
    assert not RemoteClinician.objects.get(remote_id=carl.pk).active  # the replay brought nothing back


def test_a_new_public_key_replaces_the_old_one(peer):
    bea = twonode.b_clinician()
    directory.fetch_and_sync(peer)
    UserKeyPair.objects.filter(user=bea).delete()
    new_public = bytes(portal_keys.keypair_for(bea).public_key)  # B made Bea a new key pair
    assert directory.fetch_and_sync(peer).updated == 1
    shadow = RemoteClinician.objects.get(remote_id=bea.pk).user
    pair = UserKeyPair.objects.get(user=shadow)
    assert bytes(pair.public_key) == new_public and bytes(pair.sealed_private_key) == b""


def test_an_entry_whose_fingerprint_does_not_match_its_key_is_refused(peer):
    public, _ = hybrid_kem.generate_keypair()
    body = {
        "directory": directory.DIRECTORY_VERSION,
        "origin": twonode.B_ORIGIN,
        "node": twonode.B_NAME,
        "version": 1,
        "issued_at": 0,
        "clinicians": [
            {
                "id": "7a1c3e52-55a4-4c59-9d0e-2f39f7f2f0a1",
                "display_name": "Dan Dias",
                "organisation": twonode.B_NAME,
                "public_key": base64.b64encode(public).decode(),
                "fingerprint": "0" * 32,
            }
        ],
    }
    signed = note.sign_note(canonical.dumps(body) + "\n", keys.log_signers(card.CARD_ALGORITHMS))
    with pytest.raises(directory.DirectoryError, match="fingerprint"):
        directory.verify_directory(signed, peer)
