"""Issue #25 items 1, 4, 5, 8 over HTTP: consent words from the consent's state, the access
history in plain words with filters and pages, the receipt page, patient search and the
emergency banner, denial reasons with the next step, and each role's home page."""

from __future__ import annotations

import datetime as dt
import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.access import authorize
from portal.consent_services import breakglass_open, consent_grant, consent_revoke
from portal.models import AccessEvent, Consent
from tests.factories import (
    AuditorFactory,
    ClinicianFactory,
    OrganisationFactory,
    PatientFactory,
    login_verified,
    make_scan,
)

pytestmark = pytest.mark.django_db


def _grant(patient, grantee, **kw):
    kw.setdefault("end", timezone.now() + timedelta(days=30))
    return consent_grant(patient=patient, grantee_user=grantee, actions=["view"], purposes=["TREAT"], **kw)


def _consents_page(client, patient) -> str:
    """The consents page without the "words when granted" kept as history."""
    client.force_login(patient)
    page = client.get(reverse("consents")).content.decode()
    assert "Words when granted" in page  # the stored text is still there, as history
    return re.sub(r"<details>.*?</details>", "", page, flags=re.S)


# --- 1. consent words from state --------------------------------------------------------------


def test_consent_words_follow_state_and_name_the_chosen_scans(client):
    patient = PatientFactory(time_zone="Asia/Tokyo")
    doc = ClinicianFactory(first_name="Grace", last_name="Hopper")
    ct, _, _ = make_scan(patient, modality="CT", study_date=dt.date(2004, 1, 19))
    mr, _, _ = make_scan(patient, modality="MR", study_date=dt.date(2010, 3, 3))
    consent = _grant(patient, doc, scope_kind="listed", scope_scan_ids=[ct.pk, mr.pk])
    page = _consents_page(client, patient)
    assert "Grace Hopper may see your scans and their results" in page
    assert "your CT of 19 Jan 2004 and your MR of 3 Mar 2010" in page
    assert "You can revoke this at any time" in page
    # the end in the patient's zone (Tokyo is UTC+9, no daylight saving)
    tokyo = timezone.localtime(consent.end, dt.timezone(timedelta(hours=9)))
    assert f"{tokyo:%H:%M} JST" in page

    revoked, _ = consent_revoke(actor=patient, consent=consent)
    page = _consents_page(client, patient)
    at = timezone.localtime(revoked.created_at, dt.timezone(timedelta(hours=9)))
    assert "Grace Hopper could see your scans and their results" in page
    assert f"until you revoked it on {at.day} {at:%b %Y}, {at:%H:%M} JST" in page
    assert "Grace Hopper may see" not in page


def test_expired_consent_reads_could_until_its_end_not_revoke_any_time(client):
    patient = PatientFactory()  # no zone set: the site default (UTC)
    doc = ClinicianFactory(first_name="Grace", last_name="Hopper")
    consent = _grant(patient, doc, scope_kind="filter", scope_modality="CT")
    end = timezone.now() - timedelta(days=3)
    Consent.objects.filter(pk=consent.pk).update(start=end - timedelta(days=30), end=end)
    page = _consents_page(client, patient)
    expired = page[page.index('id="expired-h"') :]
    assert "Grace Hopper could see your scans and their results, covering your CT scans" in expired
    assert f"until {end.day} {end:%b %Y}, {end:%H:%M} UTC, when it expired" in expired
    assert "You can revoke this at any time" not in expired[: expired.index('id="revoked-h"')]


def test_time_zone_setting_changes_the_times_shown(client):
    patient = PatientFactory()
    client.force_login(patient)
    assert client.post(reverse("time-zone"), {"time_zone": "Nowhere/Else"}).status_code == 400
    response = client.post(reverse("time-zone"), {"time_zone": "America/New_York"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.time_zone == "America/New_York"


# --- 4. access history and receipts -------------------------------------------------------------


def test_history_in_plain_words_names_scan_person_and_organisation(client):
    org = OrganisationFactory(name="St Mary's")
    patient = PatientFactory()
    doc = ClinicianFactory(first_name="Ada", last_name="Lovelace", organisation=org)
    scan, _, _ = make_scan(patient, modality="CT", study_date=dt.date(2004, 1, 19))
    _grant(patient, doc)
    authorize(actor=doc, action="view", scan=scan)
    authorize(actor=doc, action="view", scan=scan, purpose="HRESCH")  # refused: wrong purpose
    client.force_login(patient)
    page = client.get(reverse("access-history")).content.decode()
    assert "Ada Lovelace at St Mary&#x27;s" in page
    assert "opened your CT of 19 Jan 2004" in page
    assert "treatment" in page and "research" in page
    assert "TREAT" not in page and "HRESCH" not in page
    assert "your consent does not cover that purpose" in page


def test_history_filters_and_pages(client):
    patient = PatientFactory()
    ada, bob = ClinicianFactory(first_name="Ada"), ClinicianFactory(first_name="Bob")
    scan, _, _ = make_scan(patient)
    _grant(patient, ada)
    for _ in range(27):
        authorize(actor=ada, action="view", scan=scan)
    for _ in range(3):
        authorize(actor=bob, action="view", scan=scan)  # refused: no consent
    client.force_login(patient)
    url = reverse("access-history")
    first = client.get(url)
    assert first.status_code == 200 and len(first.context["events"]) == 25
    assert first.context["page"].paginator.count == 30
    second = client.get(url, {"page": 2})
    assert len(second.context["events"]) == 5
    refused = client.get(url, {"outcome": "refused"})
    assert {e.actor_id for e in refused.context["events"]} == {bob.pk} and len(refused.context["events"]) == 3
    by_ada = client.get(url, {"who": str(ada.pk), "page": 2})
    assert by_ada.context["page"].paginator.count == 27 and len(by_ada.context["events"]) == 2
    assert "who=" in by_ada.content.decode()  # the page links keep the filter
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert client.get(url, {"since": tomorrow.isoformat()}).context["page"].paginator.count == 0
    bad = client.get(url, {"since": "not-a-date"})
    assert bad.status_code == 400 and "Enter a valid date" in bad.content.decode()


@pytest.fixture
def receipt_world():
    from ledger.services import append_all, create_checkpoint

    patient, doc = PatientFactory(), ClinicianFactory()
    scan, _, _ = make_scan(patient)
    _grant(patient, doc)
    authorize(actor=doc, action="view", scan=scan)
    append_all()
    create_checkpoint(force=True)
    event = AccessEvent.objects.get(patient=patient, actor=doc)
    return patient, doc, event


def test_receipt_page_for_the_patient_only(client, receipt_world):
    patient, doc, event = receipt_world
    page_url = reverse("access-receipt", args=[event.pk])
    json_url = reverse("access-receipt-json", args=[event.pk])
    client.force_login(patient)
    page = client.get(page_url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "This access is entry" in text and "checkpoint signed at" in text
    assert json_url in text and reverse("access-history") in text
    assert "js/receipt_verify.js" in text and 'id="browser-check"' in text
    download = client.get(json_url)
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]

    from ledger.selectors import verifiers
    from ledger.verify_offline import verify_receipt

    receipt = json.loads(download.content)
    assert verify_receipt(receipt, verifiers())["index"] == receipt["entry"]["index"]
    assert f"entry {receipt['entry']['index'] + 1:,} " in text
    # the clinician who made the access, another patient, an auditor: nothing
    for other in (doc, PatientFactory(), AuditorFactory()):
        login_verified(client, other)
        assert client.get(page_url).status_code == 404
        assert client.get(json_url).status_code == 404
    client.logout()
    assert client.get(page_url).status_code == 302


def test_history_links_to_the_receipt_page(client, receipt_world):
    patient, _doc, event = receipt_world
    client.force_login(patient)
    page = client.get(reverse("access-history")).content.decode()
    assert reverse("access-receipt", args=[event.pk]) in page
    assert "/api/v1/ledger/receipts/" not in page


# --- 5. break-glass ---------------------------------------------------------------------------


def test_patient_search_stays_within_the_organisation(client):
    doc = ClinicianFactory()
    ours = PatientFactory(first_name="Alice", last_name="Archer", birth_date=dt.date(1970, 5, 1))
    make_scan(ours, uploader=doc)  # seen at the clinician's hospital
    registered = PatientFactory(first_name="Alice", last_name="Brown", organisation=doc.organisation)
    theirs = PatientFactory(first_name="Alice", last_name="Archer", birth_date=dt.date(1970, 5, 1))
    make_scan(theirs, uploader=ClinicianFactory())  # another hospital's patient
    login_verified(client, doc)
    url = reverse("breakglass-start")
    found = client.post(url, {"name": "alice"}).context["results"]
    assert set(found) == {ours, registered}
    assert client.post(url, {"birth_date": "1970-05-01"}).context["results"] == [ours]
    assert client.post(url, {"identifier": theirs.username}).context["results"] == []
    assert client.post(url, {"identifier": str(ours.pk)}).context["results"] == [ours]
    assert client.post(url, {}).status_code == 400
    # nor can emergency access be opened on the other hospital's patient by its id
    assert client.get(reverse("breakglass", args=[theirs.pk])).status_code == 404
    # patients' details never go into a URL: the search is a POST
    assert client.get(url).status_code == 200 and client.get(url).context["results"] is None


def test_patient_search_is_rate_limited(client, settings):
    settings.QMC_PATIENT_SEARCHES_PER_HOUR = 2
    doc = ClinicianFactory()
    login_verified(client, doc)
    url = reverse("breakglass-start")
    assert [client.post(url, {"name": "zz"}).status_code for _ in range(3)] == [200, 200, 429]


def test_emergency_access_links_to_the_patient_and_shows_a_banner_with_time_left(client):
    doc = ClinicianFactory()
    patient = PatientFactory(first_name="Alice", last_name="Archer", organisation=doc.organisation)
    scan, _, _ = make_scan(patient, uploader=doc)
    login_verified(client, doc)
    response = client.post(
        reverse("breakglass", args=[patient.pk]), {"reason": "Unconscious in A&E, no consent"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("imaging:patient-scans", args=[patient.pk])
    page = client.get(reverse("imaging:scan", args=[scan.pk])).content.decode()
    assert 'class="emergency-banner"' in page and "Alice Archer" in page
    assert "3 h 59 min left" in page or "4 h 0 min left" in page
    assert 'class="emergency-banner"' in client.get(reverse("home")).content.decode()
    # not for another clinician
    login_verified(client, ClinicianFactory())
    assert 'class="emergency-banner"' not in client.get(reverse("home")).content.decode()


def test_denial_after_revoke_says_revoked_with_date_and_next_step(client):
    doc = ClinicianFactory()
    patient = PatientFactory()
    scan, _, _ = make_scan(patient, uploader=doc)
    consent = _grant(patient, doc)
    revoked, _ = consent_revoke(actor=patient, consent=consent)
    login_verified(client, doc)
    response = client.get(reverse("imaging:scan", args=[scan.pk]))
    assert response.status_code == 403
    page = response.content.decode()
    at = revoked.created_at
    assert "The patient has revoked the consent that gave you access." in page
    assert f"The patient revoked your access on {at.day} {at:%b %Y}, {at:%H:%M} UTC." in page
    assert "expired" not in page
    assert "or use emergency access" in page and reverse("breakglass", args=[patient.pk]) in page


def test_expired_denial_says_expired_on(client):
    doc = ClinicianFactory()
    patient = PatientFactory()
    scan, _, _ = make_scan(patient, uploader=doc)
    consent = _grant(patient, doc)
    end = timezone.now() - timedelta(days=2)
    Consent.objects.filter(pk=consent.pk).update(start=end - timedelta(days=30), end=end)
    login_verified(client, doc)
    page = client.get(reverse("imaging:scan", args=[scan.pk])).content.decode()
    assert f"Your access expired on {end.day} {end:%b %Y}, {end:%H:%M} UTC." in page


def test_patient_page_without_consent_is_a_403_that_explains_for_the_hospitals_clinician(client):
    doc = ClinicianFactory()
    patient = PatientFactory(organisation=doc.organisation)
    login_verified(client, doc)
    response = client.get(reverse("imaging:patient-scans", args=[patient.pk]))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Not allowed" in page and "has not given you consent" in page
    assert "Ask the patient to grant you access" in page and "Use emergency access" in page
    # another hospital's clinician learns nothing
    login_verified(client, ClinicianFactory())
    assert client.get(reverse("imaging:patient-scans", args=[patient.pk])).status_code == 404


# --- 8. home pages ----------------------------------------------------------------------------


def test_patient_home_shows_who_can_see_recent_accesses_and_emergencies(client):
    doc = ClinicianFactory(first_name="Grace", last_name="Hopper")
    patient = PatientFactory()
    scan, _, _ = make_scan(patient, modality="CT", study_date=dt.date(2004, 1, 19))
    _grant(patient, doc)
    authorize(actor=doc, action="view", scan=scan)
    er = ClinicianFactory(first_name="Emma", last_name="Room")
    breakglass_open(clinician=er, patient=patient, reason="Unconscious on arrival at A&E")
    client.force_login(patient)
    page = client.get(reverse("home")).content.decode()
    assert "Who can see your scans right now" in page and "Grace Hopper may see" in page
    assert "opened your CT of 19 Jan 2004" in page
    assert "Needs your attention" in page and "Emma Room" in page and "emergency access" in page


def test_clinician_and_auditor_homes(client):
    doc = ClinicianFactory()
    patient = PatientFactory(first_name="Alice", last_name="Archer")
    make_scan(patient, uploader=doc, modality="MR")
    _grant(patient, doc)
    login_verified(client, doc)
    page = client.get(reverse("home")).content.decode()
    assert "Your recent uploads" in page and "MR of Alice Archer" in page
    assert "Shared with you" in page and reverse("imaging:patient-scans", args=[patient.pk]) in page
    assert reverse("federation:shared") in page

    breakglass_open(clinician=doc, patient=patient, reason="Collapsed in the waiting room")
    login_verified(client, AuditorFactory())
    page = client.get(reverse("home")).content.decode()
    assert "Emergency accesses to review" in page and '<span class="badge warn">1</span>' in page
    assert "Ledger" in page and "Witnesses" in page
