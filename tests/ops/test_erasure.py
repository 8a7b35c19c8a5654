"""Erasure by crypto-shredding (imaging/erasure.py, portal/views_erasure.py), over HTTP: the
patient asks, an administrator approves; then nothing can decrypt the erased scans, even with
the database and the blob store in hand; their URLs answer 404 and their receipts "erased";
the ledger still verifies; a second patient is untouched."""

import hashlib
import json

import pytest
from django.conf import settings

from crypto import envelope, hybrid_kem
from crypto.sealing import SealError
from imaging.storage import LocalCAS
from portal.models import (
    Consent,
    ConsentStatus,
    ErasedScan,
    ErasureRequest,
    Role,
    User,
    UserKeyPair,
    WrappedKey,
)
from tests.factories import AdminFactory, ClinicianFactory, PatientFactory, login_verified, make_scan

pytestmark = pytest.mark.django_db


def _stored_scan(patient, doc, content: bytes):
    """A scan whose original is really in the blob store, wrapped for the system, the patient
    and the clinician; with a scan.registered entry whose openings are in the private index."""
    from ledger.services import record_event

    scan, obj, ciphertext = make_scan(patient, uploader=doc, content=content)
    cid = LocalCAS(settings.QMC_BLOB_DIR).put(ciphertext)
    obj.cid, obj.ciphertext_sha256 = cid, hashlib.sha256(ciphertext).hexdigest()
    obj.save(update_fields=["cid", "ciphertext_sha256"])
    from core.keyvault import pseudonym

    event = record_event(
        event_type="scan.registered",
        payload={"scan_id": scan.pk, "patient": pseudonym("patient", patient.pk), "original_cid": cid},
        enqueue=False,
    )
    scan.ledger_event_id = event
    scan.save(update_fields=["ledger_event_id"])
    return scan, obj, ciphertext


@pytest.fixture
def portal_of_two(client):
    from portal.consent_services import consent_grant

    doc = ClinicianFactory()
    alice = PatientFactory(first_name="Alicia", last_name="Erasable", email="alicia@example.org")
    bob = PatientFactory()
    for patient in (alice, bob):
        consent_grant(patient=patient, grantee_user=doc, actions=["view", "download"], purposes=["TREAT"])
    alice_scans = [_stored_scan(alice, doc, f"alice image {i}".encode() * 50) for i in range(2)]
    bob_scan = _stored_scan(bob, doc, b"bob image" * 50)
    return doc, alice, bob, alice_scans, bob_scan


def _every_key_against(ciphertext: bytes, object_id, kind="original") -> list[str]:
    """Try the ciphertext with every key the database still holds: every sealed private key
    (unsealed with the master key) against every remaining wrap, under the context of the
    object for each possible reader, then every data key that comes out. Returns what opened it."""
    from core import keyvault
    from portal.keys import _wrap_context_id

    privates = []
    for kp in UserKeyPair.objects.exclude(sealed_private_key=b""):
        try:
            privates.append(
                keyvault.unseal(bytes(kp.sealed_private_key), context=f"portal.keypair:{kp.fingerprint}")
            )
        except SealError:
            pass
    readers = [None, *User.objects.values_list("pk", flat=True)]
    opened = []
    data_keys = set()
    for wrap in WrappedKey.objects.all():
        for private in privates:
            for reader in {wrap.reader_id, *readers}:
                try:
                    data_keys.add(
                        hybrid_kem.unwrap(
                            private, bytes(wrap.wrapped), context=_wrap_context_id(object_id, reader)
                        )
                    )
                except Exception:  # noqa: BLE001 - any failure is a key that does not open it
                    pass
            try:  # the wrap under its own object: a data key of another object
                data_keys.add(
                    hybrid_kem.unwrap(
                        private, bytes(wrap.wrapped), context=_wrap_context_id(wrap.object_id, wrap.reader_id)
                    )
                )
            except Exception:  # noqa: BLE001
                pass
    for key in data_keys:
        try:
            envelope.decrypt(ciphertext, key, object_id=str(object_id), kind=kind)
            opened.append(key.hex()[:8])
        except Exception:  # noqa: BLE001
            pass
    return opened


def test_patient_asks_admin_approves_and_the_scans_are_crypto_shredded(client, portal_of_two):
    from imaging.pipeline.read import read_object
    from ledger.services import append_all
    from ledger.verification import verify_database

    doc, alice, bob, alice_scans, (bob_scan, bob_obj, bob_ct) = portal_of_two
    store = LocalCAS(settings.QMC_BLOB_DIR)
    # before: the scans decrypt, with the keys in the database
    for _, obj, ciphertext in alice_scans:
        assert _every_key_against(ciphertext, obj.id)

    # the patient asks; without the confirmation word nothing is recorded
    login_verified(client, alice)
    assert client.get("/erasure/").status_code == 200
    refused = client.post("/erasure/", {"confirm": "yes"})
    assert refused.status_code == 400 and not ErasureRequest.objects.exists()
    assert client.post("/erasure/", {"confirm": "ERASE"}).status_code == 302
    request = ErasureRequest.objects.get(patient=alice, status="pending")
    assert client.post("/erasure/", {"confirm": "ERASE"}).status_code == 302  # asking twice: one request
    assert ErasureRequest.objects.filter(patient=alice).count() == 1

    decide = f"/staff/erasures/{request.pk}/decide/"
    # only an administrator decides; everyone else changes nothing
    for other in (alice, bob, doc):
        client.logout()
        login_verified(client, other)
        assert client.get("/staff/erasures/").status_code == 403
        assert client.post(decide, {"decision": "approve", "confirm": "ERASE"}).status_code == 403
    client.logout()
    assert client.post(decide, {"decision": "approve", "confirm": "ERASE"}).status_code == 302  # to login
    admin = AdminFactory(role=Role.ADMIN)
    login_verified(client, admin)
    assert client.get("/staff/erasures/").status_code == 200
    assert client.post(decide, {"decision": "approve"}).status_code == 400  # no confirmation
    assert client.post(decide, {"decision": "maybe", "confirm": "ERASE"}).status_code == 400
    assert ErasureRequest.objects.get(pk=request.pk).status == "pending"
    assert client.post(decide, {"decision": "approve", "confirm": "ERASE"}).status_code == 302
    done = ErasureRequest.objects.get(pk=request.pk)
    assert done.status == "done" and done.scans_erased == 2 and done.decided_by == admin
    assert client.post(decide, {"decision": "approve", "confirm": "ERASE"}).status_code == 409

    # crypto-shredded: no key the database holds opens the erased ciphertexts; the blobs are gone
    for scan, obj, ciphertext in alice_scans:
        assert _every_key_against(ciphertext, obj.id) == []
        assert not store.exists(obj.cid)
        assert not WrappedKey.objects.filter(object_id=obj.id).exists()
        assert ErasedScan.objects.filter(scan_id=scan.pk, ledger_event_id=scan.ledger_event_id).exists()
    assert not UserKeyPair.objects.filter(user=alice).exists()
    assert not WrappedKey.objects.filter(patient=alice).exists()

    # the account is a tombstone; the consents are revoked
    alice.refresh_from_db()
    assert alice.username.startswith("erased-") and not alice.is_active and not alice.has_usable_password()
    assert (alice.first_name, alice.last_name, alice.email) == ("", "", "")
    assert not Consent.objects.filter(patient=alice, is_current=True, status=ConsentStatus.ACTIVE).exists()

    # every URL of an erased scan: 404 (pages, API), 410 "erased" (its receipt)
    client.logout()
    login_verified(client, doc)
    for scan, _obj, _ in alice_scans:
        for url in (
            f"/scans/{scan.pk}/",
            f"/scans/{scan.pk}/status",
            f"/scans/{scan.pk}/viewer/",
            f"/api/v1/scans/{scan.pk}",
        ):
            assert client.get(url).status_code == 404, url
        receipt = client.get(f"/api/v1/receipts/{scan.ledger_event_id}")
        assert receipt.status_code == 410 and "erased" in receipt.json()["detail"]
    assert client.get("/api/v1/receipts/not-a-uuid").status_code == 404

    # the second patient is untouched: still decrypts for the patient and the clinician
    bob_obj.refresh_from_db()
    for reader in (bob, doc, None):
        assert read_object(bob_obj, reader=reader, store=store) == b"bob image" * 50
    assert client.get(f"/scans/{bob_scan.pk}/").status_code == 200

    # the ledger: a patient.erased entry (commitments only), and the whole log verifies
    append_all()
    from ledger.models import Entry

    entry = Entry.objects.get(event_id=done.ledger_event_id)
    assert entry.event_type == "patient.erased" and set(json.loads(entry.payload)) == {"commitments"}
    assert "Alicia" not in entry.payload and str(alice.pk) not in entry.payload
    assert verify_database(check_openings=True)["ok"] is True


def test_a_refusal_keeps_everything_and_tells_the_patient_why(client, portal_of_two):
    doc, alice, bob, alice_scans, _ = portal_of_two
    login_verified(client, alice)
    client.post("/erasure/", {"confirm": "ERASE"})
    request = ErasureRequest.objects.get(patient=alice)
    client.logout()
    login_verified(client, AdminFactory())
    decide = f"/staff/erasures/{request.pk}/decide/"
    assert client.post(decide, {"decision": "reject", "note": ""}).status_code == 400
    assert client.post(decide, {"decision": "reject", "note": "Retained 10 years by law"}).status_code == 302
    assert ErasureRequest.objects.get(pk=request.pk).status == "rejected"
    for _, obj, ciphertext in alice_scans:
        assert _every_key_against(ciphertext, obj.id)
    client.logout()
    login_verified(client, alice)
    assert "Retained 10 years by law" in client.get("/erasure/").content.decode()


def test_only_patients_ask(client):
    login_verified(client, ClinicianFactory())
    assert client.get("/erasure/").status_code == 403
    assert client.post("/erasure/", {"confirm": "ERASE"}).status_code == 403
    assert not ErasureRequest.objects.exists()


def test_a_patient_cannot_withdraw_or_see_another_patients_request(client):
    alice, bob = PatientFactory(), PatientFactory()
    login_verified(client, alice)
    client.post("/erasure/", {"confirm": "ERASE"})
    request = ErasureRequest.objects.get(patient=alice)
    client.logout()
    login_verified(client, bob)
    assert client.post(f"/erasure/{request.pk}/cancel/").status_code == 404
    assert ErasureRequest.objects.get(pk=request.pk).status == "pending"
    assert alice.username not in client.get("/erasure/").content.decode()
    client.logout()
    login_verified(client, alice)
    assert client.post(f"/erasure/{request.pk}/cancel/").status_code == 302
    assert ErasureRequest.objects.get(pk=request.pk).status == "cancelled"
