"""portal.consent_selectors.patients_of (one compiled statement) answers as the ORM query it
replaced: the same patients in name order, the same consents, related rows loaded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from portal.consent_selectors import patients_of
from portal.consent_services import consent_grant, consent_revoke
from portal.models import Consent, ConsentStatus, Role
from portal.policy import ORGANISATION_ROLES
from tests.factories import ClinicianFactory, OrganisationFactory, PatientFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def orm_patients_of(actor, at):
    """The ORM query patients_of replaced: the reference."""
    grantee = Q(grantee_user=actor)
    if actor.role in ORGANISATION_ROLES and actor.organisation_id:
        grantee |= Q(grantee_org_id=actor.organisation_id)
    rows = Consent.objects.filter(
        grantee,
        Q(end__isnull=True) | Q(end__gt=at),
        is_current=True,
        status=ConsentStatus.ACTIVE,
        start__lte=at,
    ).order_by("patient__last_name", "patient__first_name", "-created_at")
    grouped: dict = {}
    for consent in rows:
        grouped.setdefault(consent.patient, []).append(consent.pk)
    return grouped


def test_patients_of_answers_as_the_orm_did(django_assert_num_queries):
    now = timezone.now()
    org = OrganisationFactory()
    clinician = ClinicianFactory(organisation=org)
    zed = PatientFactory(last_name="Zed", first_name="Amy")
    adams = PatientFactory(last_name="Adams", first_name="Bob")
    both = PatientFactory(last_name="Moss", first_name="Cy")
    grant = {"actions": ["view"], "purposes": ["TREAT"]}
    consent_grant(patient=zed, grantee_user=clinician, **grant)
    consent_grant(patient=adams, grantee_org=org, **grant)
    consent_grant(patient=both, grantee_user=clinician, **grant)
    consent_grant(patient=both, grantee_org=org, **grant)
    consent_grant(patient=zed, grantee_user=ClinicianFactory(), **grant)  # someone else's
    revoked = PatientFactory(last_name="Revoked")
    consent_revoke(actor=revoked, consent=consent_grant(patient=revoked, grantee_user=clinician, **grant))
    ending = PatientFactory(last_name="Ending")
    consent_grant(
        patient=ending,
        grantee_user=clinician,
        start=now - timedelta(days=9),
        end=now + timedelta(days=1),
        **grant,
    )
    pending = PatientFactory(last_name="Pending")
    consent_grant(patient=pending, grantee_user=clinician, start=now + timedelta(days=2), **grant)

    now = timezone.now()  # every grant above has started
    later = now + timedelta(days=3)  # one has ended, the pending one has started
    for actor, at in [(clinician, now), (clinician, later), (UserFactory(role=Role.API_CLIENT), now)]:
        if actor.role == Role.API_CLIENT:
            consent_grant(patient=adams, grantee_user=actor, **grant)
            actor.organisation = org  # an API client is no organisation's member: org grants do not count
        got = patients_of(actor, at=at)
        want = orm_patients_of(actor, at)
        assert [p.pk for p in got] == [p.pk for p in want]
        assert {p.pk: [c.pk for c in cs] for p, cs in got.items()} == {p.pk: cs for p, cs in want.items()}
    assert [p.last_name for p in patients_of(clinician, at=later)] == ["Adams", "Moss", "Pending", "Zed"]
    got = patients_of(clinician, at=now)
    assert [p.last_name for p in got] == ["Adams", "Ending", "Moss", "Zed"]
    with django_assert_num_queries(0):  # their patient, grantee user and organisation came along
        for patient, consents in got.items():
            for consent in consents:
                assert consent.patient == patient
                assert (consent.grantee_user, consent.grantee_org) in ((clinician, None), (None, org))
