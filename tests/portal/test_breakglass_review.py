"""Break-glass review (issue #25 item 6): the accesses made under an emergency access, and a
sign-off that must say justified or unjustified, with a note."""

import pytest
from django.urls import reverse

from portal.access import authorize
from portal.consent_services import breakglass_open
from portal.models import BreakGlass
from tests.api.conftest import stored_scan
from tests.factories import AuditorFactory, ClinicianFactory, PatientFactory, login_verified

pytestmark = pytest.mark.django_db


def _emergency():
    alice, doc = PatientFactory(first_name="Alice"), ClinicianFactory(first_name="Grace", last_name="Hopper")
    scan, _ = stored_scan(alice, modality="CT")
    bg = breakglass_open(clinician=doc, patient=alice, reason="Unconscious in A&E")
    authorize(actor=doc, action="list", patient=alice, purpose="ETREAT")
    authorize(actor=doc, action="view", patient=alice, scan=scan, purpose="ETREAT")
    return alice, doc, scan, bg


def test_review_page_lists_the_accesses_made_under_it(client):
    alice, doc, scan, bg = _emergency()
    other_scan, _ = stored_scan(alice, modality="MR")
    authorize(actor=ClinicianFactory(), action="view", patient=alice, scan=other_scan)  # not under it
    login_verified(client, AuditorFactory())
    queue = client.get(reverse("breakglass-queue")).content.decode()
    assert reverse("breakglass-review", args=[bg.pk]) in queue
    html = client.get(reverse("breakglass-review", args=[bg.pk])).content.decode()
    assert "Unconscious in A&amp;E" in html and "Grace Hopper" in html
    rows = html.split('id="bg-accesses"')[1].split("</table>")[0]
    assert rows.count("<tr>") == 3  # header + list + view
    assert "CT · uploaded" in rows and "MR" not in rows


def test_signoff_requires_a_finding_and_keeps_it(client):
    _, doc, _, bg = _emergency()
    login_verified(client, AuditorFactory())
    r = client.post(reverse("breakglass-signoff", args=[bg.pk]), {"note": "?"}, follow=True)
    assert "Choose whether the emergency access was justified." in r.content.decode()
    bg.refresh_from_db()
    assert bg.reviewed_at is None
    client.post(
        reverse("breakglass-signoff", args=[bg.pk]), {"note": "No emergency", "outcome": "unjustified"}
    )
    bg.refresh_from_db()
    assert bg.outcome == "unjustified" and bg.review_note == "No emergency"
    html = client.get(reverse("breakglass-review", args=[bg.pk])).content.decode()
    assert 'class="outcome-unjustified">Unjustified<' in html
    assert "Unjustified" in client.get(reverse("breakglass-queue")).content.decode()
    r = client.post(reverse("breakglass-signoff", args=[bg.pk]), {"outcome": "maybe"}, follow=True)
    assert BreakGlass.objects.get(pk=bg.pk).outcome == "unjustified"  # once, and only a valid finding


def test_review_page_is_for_auditors_only(client):
    _, doc, _, bg = _emergency()
    for user in (doc, PatientFactory(), ClinicianFactory()):
        login_verified(client, user)
        assert client.get(reverse("breakglass-review", args=[bg.pk])).status_code == 403
