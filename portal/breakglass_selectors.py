"""Reads for emergency (break-glass) access: finding a patient of the clinician's own
organisation, and the emergency accesses open now (the red banner)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from django.db.models import Q
from django.utils import timezone

from imaging import consent_port
from portal.models import BreakGlass, Role, User

MAX_RESULTS = 20


def organisation_patients(clinician: User):
    """The patients a clinician may look up: registered at the clinician's organisation, or
    with scans its people uploaded (or its DICOM systems linked). Never another hospital's."""
    if clinician.role != Role.CLINICIAN or not clinician.organisation_id:
        return User.objects.none()
    seen = consent_port.patient_ids_seen_by(organisation_id=clinician.organisation_id)
    return User.objects.filter(
        Q(organisation_id=clinician.organisation_id) | Q(pk__in=seen), role=Role.PATIENT, is_active=True
    )


def is_organisation_patient(clinician: User, patient: User) -> bool:
    return organisation_patients(clinician).filter(pk=patient.pk).exists()


def search_patients(
    clinician: User, *, name: str = "", birth_date: date | None = None, identifier: str = ""
) -> list[User]:
    """Patients of the clinician's organisation matching every criterion given: each word of
    `name` in the first or last name, the date of birth, or the identifier (the portal username
    or patient number). No criterion: nothing."""
    name, identifier = name.strip(), identifier.strip()
    if not (name or birth_date or identifier):
        return []
    qs = organisation_patients(clinician)
    for word in name.split()[:4]:
        qs = qs.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word))
    if birth_date:
        qs = qs.filter(birth_date=birth_date)
    if identifier:
        match = Q(username__iexact=identifier)
        try:
            match |= Q(pk=uuid.UUID(identifier))
        except ValueError:
            pass
        qs = qs.filter(match)
    return list(qs.order_by("last_name", "first_name", "username")[:MAX_RESULTS])


def open_emergency_accesses(clinician: User, at: datetime | None = None) -> list[BreakGlass]:
    """The clinician's emergency accesses in force at `at`, the one ending first first, each
    with `.seconds_left`."""
    at = at or timezone.now()
    rows = list(
        BreakGlass.objects.filter(clinician=clinician, started_at__lte=at, expires_at__gt=at)
        .select_related("patient")
        .order_by("expires_at")
    )
    for bg in rows:
        bg.seconds_left = int((bg.expires_at - at).total_seconds())
    return rows


def time_left_words(seconds: int) -> str:
    """ "3 h 12 min left", "4 min left", "under a minute left"."""
    minutes = seconds // 60
    if minutes < 1:
        return "under a minute left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min left" if hours else f"{minutes} min left"
