"""A refusal names the consent change that actually ended the access.

A patient's consent expired long ago; they granted again and have just revoked. The clinician
must be told "revoked" (API problem+json, web page and the patient's access history), not
that some older consent expired. And the other way round: a newer grant that expired after
an older revocation is reported as expired.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.consent_services import consent_grant, consent_revoke
from portal.models import AccessEvent, Consent
from tests.factories import ClinicianFactory, PatientFactory, login_verified, make_scan

pytestmark = pytest.mark.django_db

REVOKED = "The patient has revoked the consent that gave you access."
EXPIRED = "The consent that gave you access has expired."


def _grant(patient, clinician):
    return consent_grant(
        patient=patient,
        grantee_user=clinician,
        actions=["view"],
        purposes=["TREAT"],
        end=timezone.now() + timedelta(days=30),
    )


def _let_expire(consent, *, days_ago: int):
    now = timezone.now()
    Consent.objects.filter(pk=consent.pk).update(
        start=now - timedelta(days=days_ago + 30), end=now - timedelta(days=days_ago)
    )


def _backdate_revocation(consent, *, days_ago: int):
    Consent.objects.filter(series=consent.series, is_current=True).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )


@pytest.fixture
def people(client):
    patient, clinician = PatientFactory(), ClinicianFactory()
    scan, _, _ = make_scan(patient)
    login_verified(client, clinician)
    return patient, clinician, scan


def _refusals(client, patient, clinician, scan) -> list[tuple[str, str]]:
    """(what the clinician is told, what the patient's access history says) per URL."""
    out = []
    for name in ("imaging-api:scan-detail", "imaging:scan"):
        before = set(AccessEvent.objects.filter(patient=patient).values_list("pk", flat=True))
        response = client.get(reverse(name, args=[scan.id]))
        assert response.status_code == 403, (name, response.status_code)
        if name.startswith("imaging-api"):
            told = response.json()["detail"]
        else:
            page = response.content.decode()
            told = next((message for message in (REVOKED, EXPIRED) if message in page), page)
        (event,) = AccessEvent.objects.filter(patient=patient, actor=clinician).exclude(pk__in=before)
        assert not event.allowed
        out.append((told, event.reason))
    return out


def test_revocation_after_an_older_expiry_is_reported_as_revoked(client, people):
    patient, clinician, scan = people
    _let_expire(_grant(patient, clinician), days_ago=10)
    consent_revoke(actor=patient, consent=_grant(patient, clinician))

    assert _refusals(client, patient, clinician, scan) == [(REVOKED, "consent_revoked")] * 2


def test_expiry_after_an_older_revocation_is_reported_as_expired(client, people):
    patient, clinician, scan = people
    old = _grant(patient, clinician)
    consent_revoke(actor=patient, consent=old)
    _backdate_revocation(old, days_ago=60)
    _let_expire(_grant(patient, clinician), days_ago=2)

    assert _refusals(client, patient, clinician, scan) == [(EXPIRED, "consent_expired")] * 2
