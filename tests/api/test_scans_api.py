"""The scan, patient and access-history resources of /api/v1 (behaviour; the authorization
matrix is in test_matrix.py)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from imaging.models import Scan
from portal.consent_services import consent_grant
from portal.models import AccessEvent
from tests.api.conftest import ALL_READ_SCOPES, fetch_token, register_client, stored_scan
from tests.factories import ClinicianFactory, PatientFactory, login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return PatientFactory(first_name="Alice", last_name="Example")


@pytest.fixture
def api_client_with_consent(client, alice):
    client_id, secret, service_user = register_client("Northside PACS")
    consent_grant(patient=alice, grantee_user=service_user, actions=["view", "download"], purposes=["TREAT"])
    token = fetch_token(client, client_id, secret, ALL_READ_SCOPES)
    return service_user, {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_patient_lists_own_scans_with_filters(client, alice):
    ct, _ = stored_scan(alice, modality="CT")
    mr, _ = stored_scan(alice, modality="MR")
    Scan.objects.filter(pk=mr.pk).update(status="queued")
    stored_scan(PatientFactory())  # someone else's
    client.force_login(alice)
    listed = client.get("/api/v1/scans").json()
    assert listed["count"] == 2 and {r["id"] for r in listed["results"]} == {str(ct.id), str(mr.id)}
    assert [r["id"] for r in client.get("/api/v1/scans?modality=ct").json()["results"]] == [str(ct.id)]
    assert [r["id"] for r in client.get("/api/v1/scans?status=queued").json()["results"]] == [str(mr.id)]
    bad = client.get("/api/v1/scans?status=nonsense")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"


def test_client_lists_downloads_and_is_recorded(client, alice, api_client_with_consent):
    service_user, bearer = api_client_with_consent
    scan, plain = stored_scan(alice)
    stored_scan(PatientFactory())  # not consented: never listed
    listed = client.get("/api/v1/scans", **bearer).json()
    assert [r["id"] for r in listed["results"]] == [str(scan.id)]

    detail = client.get(f"/api/v1/scans/{scan.id}", **bearer).json()
    assert detail["diagnosis"]["model_id"] == "classical" and detail["diagnosis"]["label"] == "normal"
    assert {o["kind"] for o in detail["objects"]} == {"original", "preview"}
    assert all(o["cid"] and len(o["ciphertext_sha256"]) == 64 for o in detail["objects"])

    original = client.get(f"/api/v1/scans/{scan.id}/original", **bearer)
    assert original.status_code == 200 and original.content == plain["original"]
    assert original["Content-Type"] == "application/dicom"
    assert original["Content-Disposition"] == f'attachment; filename="scan-{scan.id}-original.dcm"'
    etag = original["ETag"]
    obj = scan.blobs.get(kind="original")
    assert etag == f'"{obj.ciphertext_sha256}"'
    again = client.get(f"/api/v1/scans/{scan.id}/original", HTTP_IF_NONE_MATCH=etag, **bearer)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    other = client.get(f"/api/v1/scans/{scan.id}/original", HTTP_IF_NONE_MATCH='"abc"', **bearer)
    assert other.status_code == 200

    preview = client.get(f"/api/v1/scans/{scan.id}/preview", **bearer)
    assert preview.status_code == 200 and preview.content == plain["preview"]
    assert preview["Content-Disposition"].endswith(f'filename="scan-{scan.id}-preview.png"')
    diagnosis = client.get(f"/api/v1/scans/{scan.id}/diagnosis", **bearer).json()
    assert diagnosis["label"] == "normal" and diagnosis["model_version"] == "1.0.0"

    # every allowed call is in the patient's access history with its ledger event
    events = AccessEvent.objects.filter(patient=alice, actor=service_user)
    assert {e.action for e in events} >= {"list", "view", "download"}
    assert all(e.allowed and e.ledger_event_id and e.purpose == "TREAT" for e in events)


def test_wrong_purpose_is_refused_and_recorded(client, alice, api_client_with_consent):
    service_user, bearer = api_client_with_consent
    scan, _ = stored_scan(alice)
    research = {**bearer, "HTTP_X_PURPOSE_OF_USE": "HRESCH"}
    refused = client.get(f"/api/v1/scans/{scan.id}/original", **research)
    assert refused.status_code == 403 and "purpose" in refused.json()["detail"]
    assert client.get("/api/v1/scans", **research).json()["count"] == 0
    assert client.get("/api/v1/patients", **research).json()["count"] == 0
    denied = AccessEvent.objects.filter(patient=alice, actor=service_user, allowed=False)
    assert denied.exists() and {e.reason for e in denied} == {"wrong_purpose"}
    assert {e.purpose for e in denied} == {"HRESCH"}


def test_diagnosis_of_unfinished_scan_is_409(client, alice):
    scan, _ = stored_scan(alice, diagnosed=False)
    Scan.objects.filter(pk=scan.pk).update(status="diagnosing")
    client.force_login(alice)
    response = client.get(f"/api/v1/scans/{scan.id}/diagnosis")
    assert response.status_code == 409 and "still being processed" in response.json()["detail"]


def test_patients_resource(client, alice, api_client_with_consent):
    service_user, bearer = api_client_with_consent
    rows = client.get("/api/v1/patients", **bearer).json()["results"]
    assert [r["id"] for r in rows] == [str(alice.pk)]
    label = rows[0]["label"]
    assert label.startswith("patient-") and "Alice" not in label  # no names for third parties
    assert rows[0]["consents"][0]["actions"] == ["view", "download"]
    doc = ClinicianFactory()
    consent_grant(patient=alice, grantee_user=doc, actions=["view"], purposes=["TREAT"])
    login_verified(client, doc)
    assert [r["label"] for r in client.get("/api/v1/patients").json()["results"]] == ["Alice Example"]
    client.force_login(alice)
    assert [r["id"] for r in client.get("/api/v1/patients").json()["results"]] == [str(alice.pk)]


def test_access_history_lists_own_rows_with_receipt_urls(client, alice, api_client_with_consent):
    service_user, bearer = api_client_with_consent
    scan, _ = stored_scan(alice)
    client.get(f"/api/v1/scans/{scan.id}", **bearer)
    client.get(f"/api/v1/scans/{scan.id}/original", HTTP_X_PURPOSE_OF_USE="HRESCH", **bearer)
    # a client has no access history of its own
    assert client.get("/api/v1/access-history", **bearer).status_code == 403
    client.force_login(alice)
    rows = client.get("/api/v1/access-history").json()["results"]
    assert [(r["action"], r["allowed"], r["purpose"]) for r in rows] == [
        ("download", False, "HRESCH"),
        ("view", True, "TREAT"),
    ]
    assert rows[0]["reason"] == "wrong_purpose" and rows[1]["actor_role"] == "api_client"
    assert rows[1]["receipt_url"] == f"/api/v1/ledger/receipts/{rows[1]['ledger_event_id']}"
    denied = client.get("/api/v1/access-history?allowed=false").json()["results"]
    assert [r["action"] for r in denied] == ["download"]
    # another patient sees none of it
    client.force_login(PatientFactory())
    assert client.get("/api/v1/access-history").json()["count"] == 0


def test_throttling_answers_429_with_retry_after(client, alice, monkeypatch):
    # DRF binds the rates to the throttle class at import, so a settings override alone would
    # not reach it: set a tiny rate on the class for this test
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "2/min"})
    cache.clear()
    try:
        client.force_login(alice)
        codes = [client.get("/api/v1/scans").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/api/v1/scans")
        assert limited["Content-Type"] == "application/problem+json"
        assert int(limited["Retry-After"]) > 0 and limited.json()["status"] == 429
        client.logout()
        # anonymous callers are refused (401) before throttling on private resources; the public
        # ledger is throttled per address
        assert client.get("/api/v1/scans").status_code == 401
        anon = [client.get("/api/v1/ledger/keys").status_code for _ in range(3)]
        assert anon[2] == 429 and 429 not in anon[:2]
    finally:
        cache.clear()
