"""A patient of node A grants a clinician of node B ("Dr X at hospital B", from B's signed
directory synced at A): the consent page offers them, the grant wraps the scans' data keys for
the public key B published (A holds no private key for them), revocation and expiry delete the
wraps, the policy treats them like a local clinician, and the directories are synced by a
periodic task and once right after `federation add-peer`."""

from __future__ import annotations

import io
import socket
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from crypto import envelope, hybrid_kem
from federation import card, directory, keys
from federation.models import Peer, RemoteClinician
from federation.tasks import sync_directories, sync_directories_task
from imaging.models import ScanObject
from portal.consent_services import ConsentError, consent_grant, consent_revoke, consents_sweep
from portal.keys import wrap_context
from portal.models import Consent, UserKeyPair, WrappedKey
from portal.policy import decide
from tests.api.conftest import stored_scan
from tests.federation import twonode
from tests.federation.sharing import leave_directory, sharing

pytestmark = pytest.mark.django_db

LABEL = f"Bea Barros at {twonode.B_NAME}"


@pytest.fixture
def s(settings):
    return sharing(settings)


def _grant_on_the_page(client, s, **extra):
    client.force_login(s.patient)
    data = {
        "grantee": f"user:{s.shadow.pk}",
        "actions": ["view"],
        "purposes": ["TREAT"],
        "scope_kind": "all",
        "days": "30",
        **extra,
    }
    return client.post("/consents/", data)


def _unwrapped_keys(s, scan) -> dict:
    """{object id: data key} as B would get them: the wraps for Bea's shadow user at A, opened
    with Bea's private key (held by B only)."""
    out = {}
    for wrap in WrappedKey.objects.filter(reader=s.shadow, patient=s.patient):
        out[wrap.object_id] = hybrid_kem.unwrap(
            s.bea_private, bytes(wrap.wrapped), context=wrap_context(wrap.object_id, s.shadow)
        )
    return out


def test_the_consent_page_offers_the_remote_clinician_and_the_grant_wraps_for_their_published_key(client, s):
    scan, plain = stored_scan(s.patient)
    client.force_login(s.patient)
    page = client.get("/consents/").content.decode()
    assert "Clinicians at other hospitals (from their signed directories)" in page
    assert f'<option value="user:{s.shadow.pk}">{LABEL}</option>' in page

    response = _grant_on_the_page(client, s)
    assert response.status_code == 302, response.content
    consent = Consent.objects.get(patient=s.patient, is_current=True)
    assert consent.grantee_user == s.shadow
    assert consent.policy_text.startswith(f"{LABEL} may see your scans")
    assert LABEL in client.get("/consents/").content.decode()

    # A never had Bea's private key; the wraps are for the key in B's signed directory
    pair = UserKeyPair.objects.get(user=s.shadow)
    assert bytes(pair.sealed_private_key) == b""
    assert bytes(pair.public_key) == bytes(UserKeyPair.objects.get(user=s.bea).public_key)
    data_keys = _unwrapped_keys(s, scan)
    objects = {o.id: o for o in ScanObject.objects.filter(scan=scan)}
    assert set(data_keys) == set(objects)
    from imaging import blobs

    for object_id, obj in objects.items():
        ciphertext = blobs.store().get(obj.cid)
        got = envelope.decrypt(ciphertext, data_keys[object_id], object_id=str(obj.id), kind=obj.kind)
        assert got == plain[obj.kind]


def test_the_page_keeps_the_local_rules_for_a_remote_grantee(client, s):
    stored_scan(s.patient)
    response = _grant_on_the_page(client, s, purposes=[])
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Consent.objects.exists() and not WrappedKey.objects.filter(reader=s.shadow).exists()


def test_policy_allows_a_remote_clinician_under_consent_only(s):
    scan, _ = stored_scan(s.patient)
    before = decide(s.shadow, "view", scan)
    assert not before.allowed and before.status_code == 404
    consent_grant(patient=s.patient, grantee_user=s.shadow, actions=["view"], purposes=["TREAT"])
    assert decide(s.shadow, "view", scan).allowed
    assert decide(s.shadow, "list", s.patient).allowed
    assert decide(s.shadow, "download", scan).reason == "action_not_granted"
    assert decide(s.shadow, "view", scan, purpose="HRESCH").reason == "wrong_purpose"
    assert decide(s.olav_shadow, "view", scan).reason == "no_consent"


def test_revocation_and_expiry_delete_the_remote_clinicians_wraps(s):
    scan, _ = stored_scan(s.patient)
    consent = consent_grant(patient=s.patient, grantee_user=s.shadow, actions=["view"], purposes=["TREAT"])
    n = ScanObject.objects.filter(scan=scan).count()
    assert WrappedKey.objects.filter(reader=s.shadow).count() == n
    consent_revoke(actor=s.patient, consent=consent)
    assert not WrappedKey.objects.filter(reader=s.shadow).exists()
    assert decide(s.shadow, "view", scan).reason == "consent_revoked"

    later = consent_grant(
        patient=s.patient,
        grantee_user=s.shadow,
        actions=["view"],
        purposes=["TREAT"],
        end=timezone.now() + timedelta(days=1),
    )
    assert WrappedKey.objects.filter(reader=s.shadow).count() == n
    Consent.objects.filter(pk=later.pk).update(
        start=timezone.now() - timedelta(days=2), end=timezone.now() - timedelta(seconds=1)
    )
    assert consents_sweep()["expired"] == 1
    assert not WrappedKey.objects.filter(reader=s.shadow).exists()
    assert Consent.objects.get(pk=later.pk).expiry_recorded_at is not None
    assert not decide(s.shadow, "view", scan).allowed


def test_a_grant_needs_the_key_the_peer_published(s):
    UserKeyPair.objects.filter(user=s.shadow).delete()
    with pytest.raises(ConsentError, match="has not published a key"):
        consent_grant(patient=s.patient, grantee_user=s.shadow, actions=["view"], purposes=["TREAT"])
    assert not Consent.objects.exists()
    assert not UserKeyPair.objects.filter(user=s.shadow).exists()  # none was made up here


def test_a_clinician_gone_from_the_directory_is_neither_offered_nor_grantable(client, settings, s):
    leave_directory(settings, s, s.olav)
    s.olav_shadow.refresh_from_db()
    assert not s.olav_shadow.is_active

    client.force_login(s.patient)
    page = client.get("/consents/").content.decode()
    assert LABEL in page and "Olav Ortiz" not in page
    response = _grant_on_the_page(client, s, grantee=f"user:{s.olav_shadow.pk}")
    assert response.status_code == 200
    assert not Consent.objects.exists()
    with pytest.raises(ConsentError, match="not active"):
        consent_grant(patient=s.patient, grantee_user=s.olav_shadow, actions=["view"], purposes=["TREAT"])


def test_an_untrusted_peers_clinicians_are_not_offered(client, s):
    Peer.objects.filter(pk=s.peer.pk).update(trusted=False, untrusted_reason="equivocated")
    client.force_login(s.patient)
    assert LABEL not in client.get("/consents/").content.decode()


# --- directories: synced periodically, and once after add-peer -----------------------------------


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _b_pages(settings) -> tuple[dict[str, str], list[str]]:
    """B's signed node card and directory (with Bea), and B's log vkeys."""
    twonode.be_node_b(settings)
    twonode.b_clinician("Bea Barros")
    pages = {
        "/.well-known/qmedchain-node": card.signed_card(),
        directory.DIRECTORY_PATH: directory.signed_directory(),
    }
    return pages, keys.show_keys()["log"]


def test_the_periodic_task_syncs_every_trusted_peer_and_reports_the_unreachable(settings):
    assert django_settings.CELERY_BEAT_SCHEDULE["federation-sync-directories"] == {
        "task": "federation.sync_directories",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    }
    pages, vkeys = _b_pages(settings)
    with twonode.StaticPeer(pages) as b:
        peer = twonode.trust_b(settings, url=b.url)
        settings.LEDGER_ORIGIN = twonode.A_ORIGIN
        down = Peer.objects.create(origin="hospital-c.example/ledger", url=_closed_port_url(), role="log")
        result = sync_directories_task.apply().get()
    assert set(result["synced"]) == {twonode.B_ORIGIN}
    assert result["synced"][twonode.B_ORIGIN]["added"] == 1
    assert set(result["failed"]) == {down.origin}
    remote = RemoteClinician.objects.get(peer=peer)
    assert remote.user.display_name() == LABEL and remote.active
    # again: nothing new
    with twonode.StaticPeer(pages) as b:
        Peer.objects.filter(pk=peer.pk).update(url=b.url)
        again = sync_directories([Peer.objects.get(pk=peer.pk)])
    assert again["synced"][twonode.B_ORIGIN]["added"] == 0
    assert RemoteClinician.objects.count() == 1


def test_add_peer_syncs_the_new_peers_directory_once(settings):
    pages, vkeys = _b_pages(settings)
    with twonode.StaticPeer(pages) as b:
        settings.LEDGER_ORIGIN = twonode.A_ORIGIN
        out, err = io.StringIO(), io.StringIO()
        args = ["add-peer", "--origin", twonode.B_ORIGIN, "--url", b.url, "--role", "log"]
        for v in vkeys:
            args += ["--vkey", v]
        call_command("federation", *args, stdout=out, stderr=err)
    assert "1 clinician(s) added" in out.getvalue(), err.getvalue()
    remote = RemoteClinician.objects.get(peer__origin=twonode.B_ORIGIN)
    assert remote.display_name == "Bea Barros" and UserKeyPair.objects.filter(user=remote.user).exists()


def test_add_peer_says_when_the_directory_could_not_be_synced(settings):
    _, vkeys = _b_pages(settings)
    settings.LEDGER_ORIGIN = twonode.A_ORIGIN
    out, err = io.StringIO(), io.StringIO()
    args = ["add-peer", "--origin", twonode.B_ORIGIN, "--url", _closed_port_url(), "--role", "log"]
    for v in vkeys:
        args += ["--vkey", v]
    call_command("federation", *args, stdout=out, stderr=err)
    assert f"trusted {twonode.B_ORIGIN}" in out.getvalue()
    assert "directory not synced yet" in err.getvalue() and "retried periodically" in err.getvalue()
    assert not RemoteClinician.objects.exists()
