"""Reads about consent: who may currently read a scan, which consents a patient has."""

import functools

from django.db.models import Q
from django.utils import timezone

from core.rows import Columns, read_joined
from portal.models import BreakGlass, Consent, ConsentStatus, Organisation, Role, User, UserKeyPair
from portal.policy import consent_covers_scan, grantee_ids


def consent_readers(consent: Consent) -> list[User]:
    if consent.grantee_user_id:
        return [consent.grantee_user]
    return list(User.objects.filter(organisation=consent.grantee_org, role=Role.CLINICIAN, is_active=True))


# --- who reads a scan: its patient's active consents and break-glass

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


def _breakglass(patient_id, at):
    return BreakGlass.objects.filter(patient_id=patient_id, started_at__lte=at, expires_at__gt=at)


class ReaderReads:
    """The reads that decide who, besides the patient and the system, holds key wraps for a
    patient's scans at `at`: active consents (with their organisations' clinicians) and
    break-glass. With ``keys=True`` also the public keys of everyone who may be a reader, the
    patient's and the system's, so that wrapping for them needs no further query."""

    def __init__(self, patient_id, at, *, keys: bool = False) -> None:
        # plain queries, the later ones built from the earlier answers: compiling the
        # subqueries that did it in one go cost more CPU than the round trips they saved
        self._consents = list(_active(patient_id, at).values_list(*_CONSENT_TERMS))
        terms = [dict(zip(_CONSENT_TERMS, row, strict=True)) for row in self._consents]
        orgs = {t["grantee_org_id"] for t in terms if t["grantee_org_id"] is not None}
        self._clinicians = (
            list(
                User.objects.filter(
                    organisation_id__in=orgs, role=Role.CLINICIAN, is_active=True
                ).values_list("id", "organisation_id")
            )
            if orgs
            else []
        )
        self._breakglass = list(_breakglass(patient_id, at).values_list("clinician_id"))
        self._keys = None
        if keys:  # everyone who may be a reader, the patient and the system: a superset
            maybe = {patient_id, *(t["grantee_user_id"] for t in terms if t["grantee_user_id"] is not None)}
            maybe |= {user_id for user_id, _org in self._clinicians}
            maybe |= {user_id for (user_id,) in self._breakglass}
            self._keys = list(
                UserKeyPair.objects.filter(Q(is_system=True) | Q(user_id__in=maybe)).values_list(
                    "user_id", "public_key"
                )
            )

    def reader_ids(self, scan) -> list:
        """Ids of the users holding wraps for `scan` now, in a stable order."""
        by_org: dict = {}
        for user_id, org_id in self._clinicians:
            by_org.setdefault(org_id, []).append(user_id)
        readers: dict = {}
        for row in self._consents:
            consent = Consent(**dict(zip(_CONSENT_TERMS, row, strict=True)))
            if _READ_ACTIONS & set(consent.actions) and consent_covers_scan(consent, scan):
                grantees = (
                    [consent.grantee_user_id]
                    if consent.grantee_user_id
                    else by_org.get(consent.grantee_org_id, [])
                )
                readers.update(dict.fromkeys(grantees))
        readers.update(dict.fromkeys(user_id for (user_id,) in self._breakglass))
        return list(readers)

    def public_keys(self) -> dict:
        """{user id or None (the system): public key} for the readers (any of them may be
        missing if they have no key pair yet); needs ``keys=True``."""
        return {user_id: bytes(public) for user_id, public in self._keys or ()}


def readers_for_scan(scan, at=None) -> list[User]:
    """Users (besides the patient and the system) who hold key wraps for the scan's objects
    right now."""
    reads = ReaderReads(scan.patient_id, at or timezone.now())
    ids = reads.reader_ids(scan)
    users = User.objects.in_bulk(ids)
    return [users[i] for i in ids if i in users]


def patient_consents(patient: User):
    """Every version, newest first, for the patient's consent pages."""
    return Consent.objects.filter(patient=patient).select_related(
        "grantee_user__remote_clinician__peer", "grantee_org"
    )


def patients_of(actor: User, at=None):
    """Patients with an active consent for `actor` (or the actor's organisation), with those
    consents (their patient, grantee user and grantee organisation loaded), by patient name.
    One statement compiled once per process (core.rows): every API list and clinician page
    asks, and the ORM's compiling of this join was a third of an authorized list's CPU."""
    at = at or timezone.now()
    user_id, org_id = grantee_ids(actor)
    c = _GRANTED[0]
    consents, patients, orgs, users = read_joined(
        _granted_sql(),
        [
            c.param("grantee_user_id", user_id),
            c.param("grantee_org_id", org_id),
            c.param("end", at),
            c.param("status", ConsentStatus.ACTIVE),
            c.param("start", at),
        ],
        _GRANTED,
    )
    by_id = {
        "patient": {p.pk: p for p in patients},
        "org": {o.pk: o for o in orgs},
        "user": {u.pk: u for u in users},
    }
    grouped: dict = {}
    for consent in consents:
        consent.patient = by_id["patient"][consent.patient_id]
        consent.grantee_org = by_id["org"].get(consent.grantee_org_id)
        consent.grantee_user = by_id["user"].get(consent.grantee_user_id)
        grouped.setdefault(consent.patient, []).append(consent)
    return grouped


# patients_of's statement: the consents, their patient, grantee organisation and grantee user
_GRANTED = (
    Columns(Consent, "c"),
    Columns(User, "p"),
    Columns(Organisation, "g"),
    Columns(User, "gu"),
)


@functools.cache
def _granted_sql() -> str:
    c, p, g, gu = _GRANTED
    # quoted names only; every value is a %s parameter. An actor outside an organisation passes
    # NULL for it, which equals no row's organisation.
    return (
        f"SELECT {c.sql()}, {p.sql()}, {g.sql()}, {gu.sql()} FROM {c.table()}"  # nosec B608
        f' JOIN {p.table()} ON "p"."id" = "c"."patient_id"'
        f' LEFT JOIN {g.table()} ON "g"."id" = "c"."grantee_org_id"'
        f' LEFT JOIN {gu.table()} ON "gu"."id" = "c"."grantee_user_id"'
        ' WHERE ("c"."grantee_user_id" = %s OR "c"."grantee_org_id" = %s)'
        ' AND ("c"."end" IS NULL OR "c"."end" > %s) AND "c"."is_current" AND "c"."status" = %s'
        ' AND "c"."start" <= %s'
        ' ORDER BY "p"."last_name", "p"."first_name", "c"."created_at" DESC'
    )


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
