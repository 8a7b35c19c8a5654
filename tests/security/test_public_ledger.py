"""Issue 19, class 3: the public ledger must carry no health data and no way to link a
patient's entries together.

An outsider (no account, or a client whose consent was revoked and who once learnt a patient's
pseudonym) reads every public ledger URL over HTTP after scans were diagnosed by the real
worker and consents were granted, used and revoked. The facts stay provable: an authorised
reader's receipt carries the openings of the entry's commitments, and they verify offline.
"""

from __future__ import annotations

import copy
import json
from itertools import combinations

import pytest
from django.urls import reverse

from imaging.models import Scan, ScanStatus
from ledger.chain import VerificationFailure, key_from_json
from ledger.verify_offline import main as verify_main
from ledger.verify_offline import verify_receipt
from portal.consent_services import breakglass_open, consent_grant, consent_revoke
from tests.conftest import wait_for
from tests.factories import ClinicianFactory, PatientFactory, login_verified
from tests.imaging.conftest import cxr_png_bytes, drain_worker, upload_file

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drained")]

HEALTH_KEYS = {"diagnosis", "label", "probability", "score", "confidence", "modality", "width", "height"}
HEALTH_KEYS |= {"size_bytes", "frames", "pixel_sha256", "qwalk", "qwalk_hash"}


@pytest.fixture
def drained():
    yield
    drain_worker()


def _leaves(value, keys: set, values: list) -> None:
    """Every key and every scalar value of a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            keys.add(k)
            _leaves(v, keys, values)
    elif isinstance(value, list):
        for v in value:
            _leaves(v, keys, values)
    else:
        values.append(value)


def _scalars(value) -> set:
    values: list = []
    _leaves(value, set(), values)
    return {json.dumps(v) for v in values}


@pytest.fixture
def ledger_world(celery_worker, client):
    """Alice's scans diagnosed by the real worker, a consent granted and revoked, a view, a
    refusal and a break-glass; every event signed, appended and covered by a checkpoint."""
    from ledger.services import append_all, create_checkpoint

    alice = PatientFactory()
    doc, stranger, emergency = ClinicianFactory(), ClinicianFactory(), ClinicianFactory()
    consent_grant(patient=alice, grantee_user=doc, actions=["view", "download", "upload"], purposes=["TREAT"])
    login_verified(client, doc)
    ids = []
    for index in (3, 5):  # chest X-rays: diagnosed (a label and a probability to keep off the ledger)
        body = {"patient": str(alice.pk), "file": upload_file(cxr_png_bytes(index), "x.png")}
        resp = client.post("/api/v1/scans", body)
        assert resp.status_code == 202, resp.content
        ids.append(resp.json()["id"])
    scans = []
    for scan_id in ids:
        scan = wait_for(
            lambda scan_id=scan_id: Scan.objects.filter(pk=scan_id, status=ScanStatus.DONE).first(),
            timeout=90,
            what="the scan to be diagnosed",
        )
        assert scan.diagnosis_label and scan.diagnosis_probability is not None
        scans.append(scan)
    assert client.get(f"/api/v1/scans/{scans[0].pk}").status_code == 200  # scan.accessed
    login_verified(client, stranger)
    assert client.get(f"/api/v1/scans/{scans[0].pk}").status_code == 404  # access.denied
    other = consent_grant(patient=alice, grantee_user=stranger, actions=["view"], purposes=["TREAT"])
    consent_revoke(actor=alice, consent=other)
    breakglass_open(clinician=emergency, patient=alice, reason="unconscious in the emergency room")
    from ledger.selectors import entry_for_event

    wait_for(lambda: all(entry_for_event(s.ledger_event_id) for s in scans), what="the scans' entries")
    append_all()
    create_checkpoint(force=True)
    client.logout()
    return {"alice": alice, "doc": doc, "stranger": stranger, "scans": scans, "client": client}


def _public_documents(client) -> dict[str, object]:
    """Every public ledger URL, as an anonymous outsider sees it."""
    docs: dict[str, object] = {}
    page = client.get("/ledger/")
    assert page.status_code == 200
    docs["/ledger/"] = page.content.decode()
    checkpoint = client.get("/api/v1/ledger/checkpoint")
    assert checkpoint.status_code == 200
    docs["/api/v1/ledger/checkpoint"] = checkpoint.content.decode()
    listing = client.get("/api/v1/ledger/entries?start=0")
    assert listing.status_code == 200
    size = listing.json()["tree_size"]
    docs["/api/v1/ledger/entries"] = listing.json()
    docs["/api/v1/ledger/keys"] = client.get("/api/v1/ledger/keys").json()
    docs["consistency"] = client.get(f"/api/v1/ledger/proof/consistency?first=1&second={size}").json()
    for i in range(size):
        one = client.get(f"/api/v1/ledger/entries/{i}")
        assert one.status_code == 200
        docs[f"/api/v1/ledger/entries/{i}"] = one.json()
        receipt = client.get(f"/api/v1/ledger/receipts/{one.json()['entry']['event_id']}")
        assert receipt.status_code == 200
        docs[f"receipt {i}"] = receipt.json()
    return docs


def test_outsider_reads_no_health_data_and_cannot_link_a_patients_entries(ledger_world):
    client, scans = ledger_world["client"], ledger_world["scans"]
    docs = _public_documents(client)
    entries = docs["/api/v1/ledger/entries"]["entries"]
    types = {e["event_type"] for e in entries}
    assert {"scan.registered", "scan.accessed", "access.denied", "consent.granted"} <= types
    assert {"consent.revoked", "breakglass.used"} <= types

    keys: set = set()
    values: list = []
    for doc in docs.values():
        if isinstance(doc, str):
            continue
        _leaves(doc, keys, values)
    leaked = keys & HEALTH_KEYS
    assert not leaked, f"public ledger names health fields: {sorted(leaked)}"
    for scan in scans:
        for secret in (scan.diagnosis_label, scan.diagnosis_probability, scan.pixel_sha256, scan.qwalk_hash):
            assert not secret or secret not in values, f"public ledger shows {secret!r}"
        for text in (d for d in docs.values() if isinstance(d, str)):
            assert scan.pixel_sha256 not in text and f'"{scan.diagnosis_label}"' not in text

    # every entry here is about Alice: no value of one may reappear in another
    for a, b in combinations(entries, 2):
        shared = _scalars({"p": a["payload"], "f": a["fingerprints"]}) & _scalars(
            {"p": b["payload"], "f": b["fingerprints"]}
        )
        shared.discard("null")
        assert not shared, f"entries {a['index']} and {b['index']} share {sorted(shared)}"


def test_authorised_readers_get_openings_that_verify_and_a_tampered_one_fails(ledger_world, tmp_path):
    client, alice, scan = ledger_world["client"], ledger_world["alice"], ledger_world["scans"][0]
    event = str(scan.ledger_event_id)
    url = f"/api/v1/receipts/{event}"
    public = client.get(f"/api/v1/ledger/receipts/{event}").json()
    assert "openings" not in public
    assert client.get(url).status_code == 401

    client.force_login(alice)
    mine = client.get("/api/v1/receipts").json()
    assert event in {row["event_id"] for row in mine["results"]}
    assert len(mine["results"]) >= 6  # scans, view, refusal, consents, break-glass
    receipt = client.get(url).json()
    keys = [key_from_json(k) for k in client.get("/api/v1/ledger/keys").json()["keys"]]
    opened = verify_receipt(receipt, keys)["opened"]
    assert opened["label"] == scan.diagnosis_label and opened["scan_id"] == str(scan.pk)
    assert opened["probability"] == pytest.approx(scan.diagnosis_probability)
    assert opened["pixel_sha256"] == scan.pixel_sha256 and opened["model_sha256"] == scan.model_sha256
    assert receipt["entry"]["payload"] == public["entry"]["payload"]  # the same public entry

    for field, change in (("label", "value"), ("probability", "value"), ("label", "salt")):
        forged = copy.deepcopy(receipt)
        o = forged["openings"][field]
        o[change] = ("0" * 64) if change == "salt" else ("pneumonia" if o[change] == "normal" else 0.5)
        with pytest.raises(VerificationFailure) as failure:
            verify_receipt(forged, keys)
        assert failure.value.check == "opening"

    # offline, with the openings in a file of their own
    (tmp_path / "keys.json").write_text(client.get("/api/v1/ledger/keys").content.decode())
    (tmp_path / "receipt.json").write_text(json.dumps(public))
    (tmp_path / "openings.json").write_text(json.dumps(receipt["openings"]))
    args = [str(tmp_path / "keys.json"), "--receipt", str(tmp_path / "receipt.json")]
    assert verify_main([*args, "--openings", str(tmp_path / "openings.json")]) == 0
    receipt["openings"]["label"]["value"] = "pneumonia" if opened["label"] == "normal" else "normal"
    (tmp_path / "openings.json").write_text(json.dumps(receipt["openings"]))
    assert verify_main([*args, "--openings", str(tmp_path / "openings.json")]) == 1

    # the clinician with consent may see the scan's facts; nobody else, not even that they exist
    login_verified(client, ledger_world["doc"])
    assert client.get(url).json()["openings"]["label"]["value"] == scan.diagnosis_label
    page = client.get(reverse("imaging:scan", args=[scan.pk])).content.decode()  # checks the openings
    assert "hashes and CIDs match" in page and "Inclusion proof verified" in page
    login_verified(client, ledger_world["stranger"])
    assert client.get(url).status_code == 404
    client.force_login(PatientFactory())
    assert client.get(url).status_code == 404
    assert client.get("/api/v1/receipts").json()["results"] == []
