"""The network in the Django admin: read-only lists, adding a peer goes through the page with
the fingerprint confirmation, and no witness private key is shown."""

from __future__ import annotations

import pytest
from django.urls import reverse

from federation import keys
from federation.models import Peer, WitnessKey
from federation.peers import add_peer
from tests.factories import AdminFactory, login_verified
from tests.federation.peer_log import PeerLog

pytestmark = pytest.mark.django_db

MODELS = (
    "peer",
    "witnesskey",
    "cosignature",
    "witnessedcheckpoint",
    "seencheckpoint",
    "evidence",
    "quantumcheck",
)


@pytest.fixture
def admin(client, settings):
    settings.LEDGER_ORIGIN = "hospital-a.example/ledger"
    keys._signer_cache.clear()
    return login_verified(client, AdminFactory())


def test_every_list_opens_read_only(admin):
    for model in MODELS:
        r = admin.get(reverse(f"admin:federation_{model}_changelist"))
        assert r.status_code == 200, model
        if model != "peer":
            assert admin.get(reverse(f"admin:federation_{model}_add")).status_code == 403, model


def test_adding_a_peer_in_the_admin_leads_to_the_fingerprint_confirmation(admin):
    r = admin.get(reverse("admin:federation_peer_add"))
    assert r.status_code == 302 and r["Location"] == reverse("federation:peer-add")


def test_a_peer_cannot_be_edited_or_deleted_here(admin):
    log = PeerLog("hospital-b.example/ledger")
    peer = add_peer(origin=log.origin, vkeys=log.vkeys, role="log")
    change = admin.get(reverse("admin:federation_peer_change", args=[peer.pk]))
    assert change.status_code == 200 and log.vkeys[0] in change.content.decode()
    admin.post(reverse("admin:federation_peer_change", args=[peer.pk]), {"origin": "x", "trusted": ""})
    assert (
        admin.post(reverse("admin:federation_peer_delete", args=[peer.pk]), {"post": "yes"}).status_code
        == 403
    )
    peer.refresh_from_db()
    assert (peer.origin, peer.trusted) == (log.origin, True)
    assert Peer.objects.count() == 1


def test_no_witness_private_key_is_shown(admin):
    keys.ensure_witness_keys()
    for key in WitnessKey.objects.all():
        html = admin.get(reverse("admin:federation_witnesskey_change", args=[key.pk])).content.decode()
        assert key.key_id in html
        assert "sealed" not in html.lower() and bytes(key.sealed_private_key).hex()[:32] not in html
