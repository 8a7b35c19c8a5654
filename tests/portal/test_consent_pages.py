import pytest
from django.urls import reverse

from portal.access import authorize
from portal.models import AccessEvent, BreakGlass, Consent
from tests.factories import AuditorFactory, ClinicianFactory, PatientFactory, login_verified, make_scan

pytestmark = pytest.mark.django_db


def test_patient_grants_and_revokes_in_the_browser(client):
    alice, clinician = PatientFactory(), ClinicianFactory(first_name="Ada", last_name="Lovelace")
    client.force_login(alice)
    page = client.get(reverse("consents"))
    assert page.status_code == 200 and b"Grant access" in page.content
    response = client.post(
        reverse("consents"),
        {
            "grantee": f"user:{clinician.pk}",
            "actions": ["view"],
            "purposes": ["TREAT"],
            "scope_kind": "all",
            "days": "30",
        },
        follow=True,
    )
    assert b"Access granted" in response.content and b"Ada Lovelace may see your scans" in response.content
    consent = Consent.objects.get(is_current=True)
    revoke = client.post(reverse("consent-revoke", args=[consent.series]), follow=True)
    assert b"can no longer see your scans" in revoke.content
    again = client.post(reverse("consent-revoke", args=[consent.series]), follow=True)
    assert b"already revoked" in again.content


def test_grant_form_errors_are_shown_and_nothing_saved(client):
    alice = PatientFactory()
    client.force_login(alice)
    response = client.post(
        reverse("consents"),
        {
            "grantee": "user:00000000-0000-0000-0000-000000000000",
            "actions": ["view"],
            "purposes": ["TREAT"],
            "scope_kind": "all",
        },
    )
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert not Consent.objects.exists()


def test_access_history_shows_allowed_denied_and_breakglass(client):
    alice, clinician, stranger = PatientFactory(), ClinicianFactory(), ClinicianFactory()
    scan, _, _ = make_scan(alice, uploader=clinician)  # a patient of the clinician's hospital
    authorize(actor=stranger, action="view", scan=scan)
    client.force_login(alice)
    login_verified(client, clinician)
    client.post(
        reverse("breakglass", args=[alice.pk]), {"reason": "Cardiac arrest on arrival, need prior CT"}
    )
    assert BreakGlass.objects.count() == 1
    authorize(actor=clinician, action="view", scan=scan, purpose="ETREAT")
    client.force_login(alice)
    page = client.get(reverse("access-history")).content.decode()
    assert "refused" in page and "allowed" in page and "Emergency (break-glass) access" in page
    assert "emergency treatment" in page and "ETREAT" not in page
    assert AccessEvent.objects.filter(patient=alice).count() == 3
    assert all(e.ledger_event_id for e in AccessEvent.objects.all())


def test_clinician_sees_only_consented_patients_and_auditor_signs_off_breakglass(client):
    clinician = ClinicianFactory()
    alice = PatientFactory(first_name="Alice")
    bob = PatientFactory(first_name="Bob", organisation=clinician.organisation)
    client.force_login(alice)
    client.post(
        reverse("consents"),
        {
            "grantee": f"user:{clinician.pk}",
            "actions": ["view"],
            "purposes": ["TREAT"],
            "scope_kind": "all",
            "days": "30",
        },
    )
    login_verified(client, clinician)
    page = client.get(reverse("my-patients")).content.decode()
    assert "Alice" in page and "Bob" not in page
    assert client.get(reverse("breakglass-queue")).status_code == 403
    found = client.post(reverse("breakglass-start"), {"identifier": bob.username}).content.decode()
    assert reverse("breakglass", args=[bob.pk]) in found
    client.post(reverse("breakglass", args=[bob.pk]), {"reason": "Unresponsive, suspected stroke"})
    auditor = AuditorFactory()
    client.force_login(auditor)
    queue = client.get(reverse("breakglass-queue")).content.decode()
    assert "suspected stroke" in queue
    bg = BreakGlass.objects.get()
    client.post(reverse("breakglass-signoff", args=[bg.pk]), {"note": "Justified", "outcome": "justified"})
    bg.refresh_from_db()
    assert bg.reviewed_by == auditor and bg.review_note == "Justified" and bg.outcome == "justified"


def test_patient_pages_are_closed_to_other_roles(client):
    clinician = ClinicianFactory()
    login_verified(client, clinician)
    assert client.get(reverse("consents")).status_code == 403
    assert client.get(reverse("access-history")).status_code == 403


def test_access_history_shows_each_receipts_proof_status(client):
    from ledger.services import append_all, create_checkpoint

    alice, clinician = PatientFactory(), ClinicianFactory()
    scan, _, _ = make_scan(alice)
    authorize(actor=clinician, action="view", scan=scan)
    client.force_login(alice)
    assert "awaiting checkpoint" in client.get(reverse("access-history")).content.decode()
    append_all()
    create_checkpoint(force=True)
    page = client.get(reverse("access-history")).content.decode()
    assert "proof verified" in page and "awaiting checkpoint" not in page
