"""Node A's API for node B's clinicians (/federation/v1/), over Django's test client with headers
signed by B's node key: grant at A → B lists and opens the scan and decrypts it with the
clinician's private key (which only B holds); revoke or expiry → refused on the very next
request; a clinician not granted, a scan of another patient, a scan that does not exist → 404;
every decision recorded in the patient's access history as "Dr X at hospital B"."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core.keyvault import pseudonym
from federation.models import NodeAuthRefusal
from imaging import blobs
from imaging.models import ScanObject
from ledger.selectors import verifiers
from ledger.services import append_all, create_checkpoint, record_event
from ledger.verify_offline import verify_receipt
from portal.consent_services import consent_grant, consent_revoke
from portal.models import AccessEvent, Consent, WrappedKey
from tests.api.conftest import stored_scan
from tests.factories import PatientFactory
from tests.federation import twonode
from tests.federation.sharing import sharing

pytestmark = pytest.mark.django_db

SHARED = "/federation/v1/shared"
LABEL = f"Bea Barros at {twonode.B_NAME}"


def _scan_path(scan) -> str:
    return f"/federation/v1/scans/{scan.id}"


def _object_path(object_id) -> str:
    return f"/federation/v1/objects/{object_id}"


def _registered(scan) -> None:
    """The scan's `scan.registered` entry (with the original's CID and ciphertext hash behind
    its commitments), appended and covered by a checkpoint, as the pipeline leaves it."""
    original = ScanObject.objects.get(scan=scan, kind="original")
    scan.ledger_event_id = record_event(
        event_type="scan.registered",
        payload={
            "scan_id": scan.id,
            "patient": pseudonym("patient", scan.patient_id),
            "ciphertext_cid": original.cid,
            "ciphertext_sha256": original.ciphertext_sha256,
        },
    )
    scan.save(update_fields=["ledger_event_id"])
    append_all()
    create_checkpoint(force=True)


@pytest.fixture
def s(settings):
    return sharing(settings)


@pytest.fixture
def shared(s):
    """Alma's scan (registered on A's ledger) and her consent for Bea: view and download, for
    treatment, 30 days."""
    scan, plain = stored_scan(s.patient)
    _registered(scan)
    consent = consent_grant(
        patient=s.patient,
        grantee_user=s.shadow,
        actions=["view", "download"],
        purposes=["TREAT"],
        end=timezone.now() + timedelta(days=30),
    )
    return scan, plain, consent


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


def _last_event(s) -> AccessEvent:
    return AccessEvent.objects.filter(patient=s.patient).order_by("-at").first()


def test_grant_then_b_lists_opens_and_decrypts_the_scan(s, shared):
    scan, plain, consent = shared
    http = Client()
    listed = s.get(http, SHARED)
    assert listed.status_code == 200, listed.content
    assert listed.json()["patients"] == [
        {
            "patient": {"id": str(s.patient.pk), "display_name": "Alma Ahlberg"},
            "scans": [
                {
                    "id": str(scan.id),
                    "modality": "CT",
                    "body_part": "",
                    "source_format": "dicom",
                    "study_date": None,
                    "created_at": scan.created_at.isoformat(),
                    "url": _scan_path(scan),
                }
            ],
        }
    ]

    doc = s.get(http, _scan_path(scan))
    assert doc.status_code == 200, doc.content
    body = doc.json()
    assert body["origin"] == twonode.A_ORIGIN
    assert body["patient"] == {"id": str(s.patient.pk), "display_name": "Alma Ahlberg"}
    assert body["diagnosis"]["label"] == "normal"
    assert set(body["objects"]) == {"original", "preview"}
    assert body["original"] == body["objects"]["original"]

    # B fetches each ciphertext, unwraps the data key with Bea's private key and decrypts
    for kind in ("original", "preview"):
        entry = body["objects"][kind]
        response = s.get(http, entry["url"])
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/octet-stream"
        ciphertext = b"".join(response.streaming_content)
        assert int(response["Content-Length"]) == len(ciphertext)
        digest = base64.b64encode(hashlib.sha256(ciphertext).digest()).decode()
        assert response["Content-Digest"] == f"sha-256=:{digest}:"
        assert s.open_wrap(entry, ciphertext) == plain[kind]

    # the registration receipt verifies against A's log keys, and its openings carry the
    # ciphertext hash and CID of the original B just fetched
    registration = body["registration"]
    assert registration["event_id"] == str(scan.ledger_event_id)
    verify_receipt(registration["receipt"], verifiers())
    opened = {k: o["value"] for k, o in registration["receipt"]["openings"].items()}
    assert opened["ciphertext_sha256"] == body["original"]["ciphertext_sha256"]
    assert opened["ciphertext_cid"] == body["original"]["cid"]

    # every request is in Alma's access history, as Bea at hospital B, under her consent
    events = list(AccessEvent.objects.filter(patient=s.patient).order_by("at"))
    assert [(e.action, e.allowed, e.actor_id, e.purpose) for e in events] == [
        ("list", True, s.shadow.pk, "TREAT"),
        ("view", True, s.shadow.pk, "TREAT"),
        ("download", True, s.shadow.pk, "TREAT"),
        ("view", True, s.shadow.pk, "TREAT"),
    ]
    assert all(e.consent_id == consent.pk and e.ledger_event_id for e in events)
    assert body["access"]["event_id"] == str(events[1].ledger_event_id)
    http.force_login(s.patient)
    history = http.get("/access-history/").content.decode()
    rows = history[history.index('id="events-h"') :]
    rows = rows[rows.index("<tbody>") :]  # the table, not the "who" filter's choices
    assert rows.count(LABEL) == 4


def test_the_access_receipt_is_pending_then_ready_and_only_for_its_own_clinician(s, shared):
    scan, _, _ = shared
    http = Client()
    access = s.get(http, _scan_path(scan)).json()["access"]
    url = access["receipt_url"]
    assert url == f"/federation/v1/receipts/{access['event_id']}"
    pending = s.get(http, url)
    assert pending.status_code == 200
    assert pending.json() == {"event_id": access["event_id"], "status": "pending", "receipt": None}

    append_all()
    create_checkpoint(force=True)
    ready = s.get(http, url).json()
    assert ready["status"] == "ready"
    assert ready["receipt"]["entry"]["event_id"] == access["event_id"]
    verify_receipt(ready["receipt"], verifiers())
    opened = {k: o["value"] for k, o in ready["receipt"]["openings"].items()}
    assert opened["scan_id"] == str(scan.id) and opened["decision"] == "allow"

    _problem(s.get(http, url, clinician=s.olav), 404)  # another clinician's request
    _problem(s.get(http, f"/federation/v1/receipts/{scan.ledger_event_id}"), 404)  # not an access


def test_revoke_is_refused_on_the_very_next_request_and_recorded(s, shared):
    scan, _, consent = shared
    http = Client()
    body = s.get(http, _scan_path(scan)).json()
    object_url = body["original"]["url"]
    consent_revoke(actor=s.patient, consent=consent)

    refused = _problem(s.get(http, _scan_path(scan)), 403)
    assert "revoked" in refused["detail"]
    assert _last_event(s).reason == "consent_revoked" and not _last_event(s).allowed
    _problem(s.get(http, object_url), 403)
    assert _last_event(s).action == "download" and _last_event(s).reason == "consent_revoked"
    assert s.get(http, SHARED).json()["patients"] == []
    assert not WrappedKey.objects.filter(reader=s.shadow).exists()


def test_expired_consent_is_refused_and_recorded(s, shared):
    scan, _, consent = shared
    Consent.objects.filter(pk=consent.pk).update(
        start=timezone.now() - timedelta(days=31), end=timezone.now() - timedelta(seconds=1)
    )
    http = Client()
    refused = _problem(s.get(http, _scan_path(scan)), 403)
    assert "expired" in refused["detail"]
    event = _last_event(s)
    assert (event.actor_id, event.allowed, event.reason) == (s.shadow.pk, False, "consent_expired")
    # the expiry is recorded at once, and the wraps go with it
    assert Consent.objects.get(pk=consent.pk).expiry_recorded_at is not None
    assert not WrappedKey.objects.filter(reader=s.shadow).exists()
    original = ScanObject.objects.get(scan=scan, kind="original")
    _problem(s.get(http, _object_path(original.id)), 403)


def test_a_clinician_not_granted_gets_404_and_is_recorded(s, shared):
    scan, _, _ = shared
    http = Client()
    assert s.get(http, SHARED, clinician=s.olav).json()["patients"] == []
    _problem(s.get(http, _scan_path(scan), clinician=s.olav), 404)
    event = _last_event(s)
    assert (event.actor_id, event.allowed, event.reason) == (s.olav_shadow.pk, False, "no_consent")
    original = ScanObject.objects.get(scan=scan, kind="original")
    _problem(s.get(http, _object_path(original.id), clinician=s.olav), 404)
    assert AccessEvent.objects.filter(actor=s.olav_shadow, allowed=False).count() == 2


def test_a_scan_of_another_patient_is_404_and_recorded_on_that_patients_history(s, shared):
    other = PatientFactory()
    theirs, _ = stored_scan(other)
    http = Client()
    _problem(s.get(http, _scan_path(theirs)), 404)
    event = AccessEvent.objects.get(patient=other)
    assert (event.actor_id, event.allowed, event.reason) == (s.shadow.pk, False, "no_consent")
    obj = ScanObject.objects.filter(scan=theirs).first()
    _problem(s.get(http, _object_path(obj.id)), 404)
    assert AccessEvent.objects.filter(patient=other, allowed=False).count() == 2


def test_a_scan_or_object_that_does_not_exist_is_404(s, shared):
    http = Client()
    before = AccessEvent.objects.count()
    missing = "00000000-0000-4000-8000-000000000000"
    _problem(s.get(http, f"/federation/v1/scans/{missing}"), 404)
    _problem(s.get(http, _object_path(missing)), 404)
    assert AccessEvent.objects.count() == before  # no patient to record it for


def test_a_view_only_consent_serves_the_derived_images_not_the_original(s):
    scan, plain = stored_scan(s.patient)
    consent_grant(patient=s.patient, grantee_user=s.shadow, actions=["view"], purposes=["TREAT"])
    http = Client()
    body = s.get(http, _scan_path(scan)).json()
    assert body["original"] is None and set(body["objects"]) == {"preview"}
    preview = body["objects"]["preview"]
    response = s.get(http, preview["url"])
    assert s.open_wrap(preview, b"".join(response.streaming_content)) == plain["preview"]
    original = ScanObject.objects.get(scan=scan, kind="original")
    refused = _problem(s.get(http, _object_path(original.id)), 403)
    assert "does not allow this action" in refused["detail"]
    assert _last_event(s).reason == "action_not_granted"


def test_a_research_only_consent_shares_nothing_for_treatment(s):
    scan, _ = stored_scan(s.patient)
    consent_grant(patient=s.patient, grantee_user=s.shadow, actions=["view"], purposes=["HRESCH"])
    http = Client()
    assert s.get(http, SHARED).json()["patients"] == []
    assert not AccessEvent.objects.exists()  # not asked for, nothing refused
    _problem(s.get(http, _scan_path(scan)), 403)
    assert _last_event(s).reason == "wrong_purpose"


def test_unsigned_requests_and_portal_sessions_are_refused(s, shared):
    scan, _, _ = shared
    http = Client()
    response = http.get(_scan_path(scan))
    _problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Signature")
    http.force_login(s.patient)  # a portal session is no node signature
    _problem(http.get(SHARED), 401)
    assert not AccessEvent.objects.exists()
    assert NodeAuthRefusal.objects.count() == 2


def test_a_corrupted_stored_object_is_not_sent(s, shared):
    scan, _, _ = shared
    original = ScanObject.objects.get(scan=scan, kind="original")
    ScanObject.objects.filter(pk=original.pk).update(ciphertext_sha256="0" * 64)
    assert blobs.store().exists(original.cid)
    body = _problem(s.get(Client(), _object_path(original.id)), 500)
    assert "integrity" in body["detail"]
