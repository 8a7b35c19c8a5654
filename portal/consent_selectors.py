"""Reads about consent: who may currently read a scan, which consents a patient has."""

from django.db.models import Q
from django.utils import timezone

from portal import db_batch
from portal.models import BreakGlass, Consent, ConsentStatus, Role, User, UserKeyPair
from portal.policy import consent_covers_scan


def consent_readers(consent: Consent) -> list[User]:
    if consent.grantee_user_id:
        return [consent.grantee_user]
    return list(User.objects.filter(organisation=consent.grantee_org, role=Role.CLINICIAN, is_active=True))


# --- who reads a scan: its patient's active consents and break-glass, read in one round trip

_CONSENT_TERMS = (
    "id",
    "actions",
    "scope_kind",
    "scope_scan_ids",
    "scope_modality",
    "scope_from",
    "scope_to",
    "grantee_user_id",
    "grantee_org_id",
)
_READ_ACTIONS = {"view", "download"}


def _active(patient_id, at):
    return Consent.objects.filter(
        Q(end__isnull=True) | Q(end__gt=at),
        patient_id=patient_id,
        is_current=True,
        status=ConsentStatus.ACTIVE,
        start__lte=at,
    )


def _org_clinicians(patient_id, at):
    return User.objects.filter(
        organisation_id__in=_active(patient_id, at).values("grantee_org_id"),
        role=Role.CLINICIAN,
        is_active=True,
    )


def _breakglass(patient_id, at):
    return BreakGlass.objects.filter(patient_id=patient_id, started_at__lte=at, expires_at__gt=at)


# each compiled once per process (db_batch.Template), then sent with new ids and times
_CONSENTS = db_batch.Template(lambda patient_id, at: _active(patient_id, at).values_list(*_CONSENT_TERMS))
_CLINICIANS = db_batch.Template(
    lambda patient_id, at: _org_clinicians(patient_id, at).values_list("id", "organisation_id")
)
_BREAKGLASS = db_batch.Template(
    lambda patient_id, at: _breakglass(patient_id, at).values_list("clinician_id")
)
_KEYS = db_batch.Template(  # a superset of the readers' public keys: everyone who may be one
    lambda patient_id, at: UserKeyPair.objects.filter(
        Q(is_system=True)
        | Q(user_id=patient_id)
        | Q(user_id__in=_active(patient_id, at).values("grantee_user_id"))
        | Q(user_id__in=_org_clinicians(patient_id, at).values("id"))
        | Q(user_id__in=_breakglass(patient_id, at).values("clinician_id"))
    ).values_list("user_id", "public_key")
)


class ReaderReads:
    """The reads that decide who, besides the patient and the system, holds key wraps for a
    patient's scans at `at`: active consents (with their organisations' clinicians) and
    break-glass, sent in the caller's database batch (`portal.db_batch`); read the answers
    after it. With ``keys=True`` also the public keys of everyone who may be a reader, the
    patient's and the system's, so that wrapping for them needs no further query."""

    def __init__(self, patient_id, at, *, keys: bool = False) -> None:
        self._consents = _CONSENTS.send(patient_id=patient_id, at=at)
        self._clinicians = _CLINICIANS.send(patient_id=patient_id, at=at)
        self._breakglass = _BREAKGLASS.send(patient_id=patient_id, at=at)
        self._keys = _KEYS.send(patient_id=patient_id, at=at) if keys else None

    def reader_ids(self, scan) -> list:
        """Ids of the users holding wraps for `scan` now, in a stable order."""
        by_org: dict = {}
        for user_id, org_id in self._clinicians.rows():
            by_org.setdefault(org_id, []).append(user_id)
        readers: dict = {}
        for row in self._consents.rows():
            consent = Consent(**dict(zip(_CONSENT_TERMS, row, strict=True)))
            if _READ_ACTIONS & set(consent.actions) and consent_covers_scan(consent, scan):
                grantees = (
                    [consent.grantee_user_id]
                    if consent.grantee_user_id
                    else by_org.get(consent.grantee_org_id, [])
                )
                readers.update(dict.fromkeys(grantees))
        readers.update(dict.fromkeys(user_id for (user_id,) in self._breakglass.rows()))
        return list(readers)

    def public_keys(self) -> dict:
        """{user id or None (the system): public key} for the readers (any of them may be
        missing if they have no key pair yet); needs ``keys=True``."""
        return {user_id: bytes(public) for user_id, public in self._keys.rows()}


def readers_for_scan(scan, at=None) -> list[User]:
    """Users (besides the patient and the system) who hold key wraps for the scan's objects
    right now."""
    with db_batch.batch():
        reads = ReaderReads(scan.patient_id, at or timezone.now())
    ids = reads.reader_ids(scan)
    users = User.objects.in_bulk(ids)
    return [users[i] for i in ids if i in users]


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
