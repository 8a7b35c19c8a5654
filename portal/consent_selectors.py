"""Reads about consent: who may currently read a scan, which consents a patient has."""

from django.db.models import Q
from django.utils import timezone

from portal.models import BreakGlass, Consent, ConsentStatus, Role, User
from portal.policy import consent_covers_scan


def active_consents(patient: User, at=None):
    at = at or timezone.now()
    return Consent.objects.filter(
        Q(end__isnull=True) | Q(end__gt=at),
        patient=patient,
        is_current=True,
        status=ConsentStatus.ACTIVE,
        start__lte=at,
    ).select_related("grantee_user", "grantee_org")


def consent_readers(consent: Consent) -> list[User]:
    if consent.grantee_user_id:
        return [consent.grantee_user]
    return list(User.objects.filter(organisation=consent.grantee_org, role=Role.CLINICIAN, is_active=True))


def readers_for_scan(scan, at=None) -> list[User]:
    """Users (besides the patient and the system) who hold key wraps for the scan's objects right now."""
    at = at or timezone.now()
    readers: dict = {}
    for consent in active_consents(scan.patient, at):
        if ({"view", "download"} & set(consent.actions)) and consent_covers_scan(consent, scan):
            for user in consent_readers(consent):
                readers[user.pk] = user
    for bg in BreakGlass.objects.filter(patient=scan.patient, started_at__lte=at, expires_at__gt=at):
        readers[bg.clinician_id] = bg.clinician
    return list(readers.values())


def patient_consents(patient: User):
    """Every version, newest first, for the patient's consent pages."""
    return Consent.objects.filter(patient=patient).select_related("grantee_user", "grantee_org")


def patients_of(actor: User, at=None):
    """Patients with an active consent for `actor` (or the actor's organisation), with those consents."""
    at = at or timezone.now()
    grantee = Q(grantee_user=actor)
    if actor.role == Role.CLINICIAN and actor.organisation_id:
        grantee |= Q(grantee_org_id=actor.organisation_id)
    consents = (
        Consent.objects.filter(
            grantee,
            Q(end__isnull=True) | Q(end__gt=at),
            is_current=True,
            status=ConsentStatus.ACTIVE,
            start__lte=at,
        )
        .select_related("patient", "grantee_org", "grantee_user")
        .order_by("patient__last_name", "patient__first_name")
    )
    grouped: dict = {}
    for consent in consents:
        grouped.setdefault(consent.patient, []).append(consent)
    return grouped


def receipt_statuses(event_ids) -> dict:
    """For each ledger event id: "verified" (its receipt's signatures and inclusion proof check
    out against our published keys), "pending" (not yet covered by a checkpoint) or "failed"."""
    from ledger import chain
    from ledger.selectors import receipt_for_event, verifiers
    from ledger.verify_offline import InputError, verify_receipt

    keys = verifiers()
    statuses = {}
    for event_id in event_ids:
        receipt = receipt_for_event(event_id)
        if receipt is None:
            statuses[event_id] = "pending"
            continue
        try:
            verify_receipt(receipt, keys)
            statuses[event_id] = "verified"
        except (chain.VerificationFailure, InputError, ValueError):
            statuses[event_id] = "failed"
    return statuses
