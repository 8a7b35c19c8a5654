"""The one policy decision point.

`decide(actor, action, resource, purpose, at)` answers allow/deny with the reason and the
consent (id and version) or break-glass it rests on. Deny by default. It reads current
rows on every call: nothing is cached across requests, so revocation and expiry take effect
on the very next request. Within ONE request a view may ask for the same patient's consents
to be read once (`one_consent_read`: the list endpoint decides each row of a patient). Recording the decision (access history, ledger) is
`portal.access.authorize`'s job; this module only decides.

Resources are a patient (`User` with role patient: list scans, upload, view history, grant,
revoke) or a scan (anything with `.patient`, `.id`, `.modality`, `.study_date`,
`.created_at`: view, download).
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from core.rows import Rows
from portal.models import BreakGlass, Consent, ConsentStatus, Purpose, Role, ScopeKind, User

PATIENT_ACTIONS = {"list", "view", "download", "upload", "view_history", "grant", "revoke"}
OWNER_ONLY_ACTIONS = {"view_history", "grant", "revoke"}
# consent action that a request needs
REQUIRED_GRANT = {"list": "view", "view": "view", "download": "download", "upload": "upload"}
BREAKGLASS_ACTIONS = {"list", "view", "download"}
# break-glass is for treating the patient in an emergency, never for research or anything else
BREAKGLASS_PURPOSES = {"TREAT", "ETREAT"}
# who may hold a consent: a clinician here, a clinician of a peer node (its shadow user here,
# federation.RemoteClinician) or a registered API client
GRANTEE_ROLES = (Role.CLINICIAN, Role.REMOTE_CLINICIAN, Role.API_CLIENT)
# whose requests an organisation's consents cover: its clinicians, and its DICOM node (the
# identity its modalities and PACS store and search as, imaging.dimse), which holds no consent
# of its own
ORGANISATION_ROLES = (Role.CLINICIAN, Role.DICOM_NODE)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # a code, safe for the ledger
    message: str  # for people
    status_code: int = 200  # what a refusal becomes: 404 hides existence, 403 explains
    consent: Consent | None = None
    breakglass: BreakGlass | None = None
    event_id: uuid.UUID | None = None  # the ledger event that recorded it (set by access.authorize)

    @property
    def consent_version(self) -> int | None:
        return self.consent.version if self.consent else None


def allow(reason: str, message: str, **kw) -> Decision:
    return Decision(True, reason, message, 200, **kw)


def deny(reason: str, message: str, status_code: int, **kw) -> Decision:
    return Decision(False, reason, message, status_code, **kw)


HIDDEN = "No such patient or scan, or you have no access to it."


def _patient_of(resource) -> User:
    return resource if isinstance(resource, User) else resource.patient


_consent_memo: ContextVar[dict | None] = ContextVar("policy_consent_memo", default=None)


@contextmanager
def one_consent_read() -> Iterator[None]:
    """Inside this block (one request), each (actor, patient)'s current consents are read
    once and reused by every decision: a list of N scans of a patient is one read, not N."""
    token = _consent_memo.set({})
    try:
        yield
    finally:
        _consent_memo.reset(token)


def _consents_match(alias: str, patient: str) -> str:
    """The consent rows every decision reads, as SQL on the table `alias` (or the bare table):
    `patient` is the patient's id (a placeholder or a joined column), then two placeholders
    for the actor and the actor's organisation (`grantee_ids`)."""
    c = f'"{alias}".' if alias else ""
    return f'{c}"patient_id" = {patient} AND {c}"is_current" AND ({c}"grantee_user_id" = %s OR {c}"grantee_org_id" = %s)'


def grantee_ids(actor: User) -> tuple:
    """(user id, organisation id or None) whose consents cover `actor`."""
    # an actor outside an organisation passes NULL for it, which equals no row's organisation
    return actor.pk, actor.organisation_id if actor.role in ORGANISATION_ROLES else None


# compiled once per process (core.rows)
_CONSENTS = Rows(
    Consent,
    _consents_match("", "%s"),
    params=("patient_id", "grantee_user_id", "grantee_org_id"),
    order_by='"created_at" DESC',
)


def _read_consents(actor: User, patient: User) -> list:
    """Current-version consents of `patient` whose grantee is the actor or the actor's
    organisation, newest first."""
    return _CONSENTS.fetch(patient.pk, *grantee_ids(actor))


def consents_join(alias: str, patient_column: str, actor: User) -> tuple[str, list]:
    """(join condition, its parameters) that joins to a read the consent rows a decision for
    `actor` on the patient in `patient_column` reads. The joined rows go to `consents_read`,
    so that the decision in the same `one_consent_read` block reads no row itself."""
    user_id, org_id = grantee_ids(actor)
    columns = _CONSENTS.columns
    return _consents_match(alias, patient_column), [
        columns.param("grantee_user_id", user_id),
        columns.param("grantee_org_id", org_id),
    ]


def consents_read(actor: User, patient: User, consents: list) -> None:
    """Hand the rows a `consents_join` read to this block's decisions for (actor, patient)."""
    memo = _consent_memo.get()
    if memo is not None:
        memo[(actor.pk, patient.pk)] = sorted(consents, key=lambda c: c.created_at, reverse=True)


def _current_consents(actor: User, patient: User) -> list:
    memo = _consent_memo.get()
    if memo is None:
        return _read_consents(actor, patient)
    key = (actor.pk, patient.pk)
    if key not in memo:
        memo[key] = _read_consents(actor, patient)
    return memo[key]


def consent_covers_scan(consent: Consent, scan) -> bool:
    if consent.scope_kind == ScopeKind.ALL:
        return True
    if consent.scope_kind == ScopeKind.LISTED:
        return str(scan.id) in {str(s) for s in consent.scope_scan_ids}
    if consent.scope_modality and (scan.modality or "").upper() != consent.scope_modality.upper():
        return False
    day = scan.study_date or timezone.localdate(scan.created_at)
    if consent.scope_from and day < consent.scope_from:
        return False
    return not (consent.scope_to and day > consent.scope_to)


def active_breakglass(actor: User, patient: User, at: datetime) -> BreakGlass | None:
    return (
        BreakGlass.objects.filter(clinician=actor, patient=patient, started_at__lte=at, expires_at__gt=at)
        .order_by("-expires_at")
        .first()
    )


# when active consents do not cover the request, the most telling refusal first
_TERMS_ORDER = ["wrong_purpose", "action_not_granted", "out_of_scope"]
_FAILURE_MESSAGES = {
    "consent_revoked": "The patient has revoked the consent that gave you access.",
    "consent_expired": "The consent that gave you access has expired.",
    "consent_rejected": "The consent for this access was rejected.",
    "not_yet_active": "The patient's consent does not start yet.",
    "action_not_granted": "The patient's consent does not allow this action.",
    "wrong_purpose": "The patient's consent does not cover this purpose of use.",
    "out_of_scope": "This scan is outside what the patient's consent shares.",
}


def _state_failure(consent: Consent, at: datetime) -> str | None:
    """None when the consent is in force at `at`, else why not."""
    state = consent.effective_status(at)
    if state == ConsentStatus.INACTIVE:
        return "consent_revoked"
    if state == ConsentStatus.REJECTED:
        return "consent_rejected"
    if state == "expired":
        return "consent_expired"
    if state == "pending":
        return "not_yet_active"
    return None


def _terms_failure(consent: Consent, action: str, purpose: str, scan) -> str | None:
    """None when the consent's terms cover the request, else which term does not."""
    if REQUIRED_GRANT[action] not in consent.actions:
        return "action_not_granted"
    if purpose not in consent.purposes:
        return "wrong_purpose"
    if scan is not None and not consent_covers_scan(consent, scan):
        return "out_of_scope"
    return None


def _most_relevant(failures: list) -> tuple[str, Consent]:
    """The refusal to report when several consents fail, as (reason, consent).

    First the consents whose terms would have covered the request, only their state failing,
    the most recent change of state first: a revocation today outranks an expiry last month
    and an expiry today a revocation last month (the current version records a revocation,
    rejection or grant when it was made; an expiry happens at the period's end). Then
    consents in force whose terms do not cover the request, the most telling first. Then
    the rest, by their state, the most recent change first."""

    def rank(failure):
        state, terms, consent = failure
        if state is None:
            return (1, _TERMS_ORDER.index(terms), 0.0)
        changed = consent.end if state == "consent_expired" else consent.created_at
        return (0 if terms is None else 2, 0, -changed.timestamp())

    state, terms, consent = min(failures, key=rank)
    return state or terms, consent


def decide(actor, action: str, resource, purpose: str = "TREAT", at: datetime | None = None) -> Decision:
    at = at or timezone.now()
    if action not in PATIENT_ACTIONS:
        return deny("unknown_action", f"Unknown action '{action}'.", 400)
    if purpose not in Purpose.values:
        return deny("unknown_purpose", "Unknown purpose of use.", 400)
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return deny("anonymous", "Log in to see patient data.", 401)
    patient = _patient_of(resource)
    scan = None if isinstance(resource, User) else resource
    if patient is None or patient.role != Role.PATIENT:
        return deny("not_a_patient", HIDDEN, 404)

    if actor.pk == patient.pk:
        return allow("owner", "Your own data.")
    if action in OWNER_ONLY_ACTIONS:
        return deny("owner_only", HIDDEN, 404)
    if actor.role not in GRANTEE_ROLES and actor.role not in ORGANISATION_ROLES:
        return deny("role_not_permitted", HIDDEN, 404)

    failures = []
    for consent in _current_consents(actor, patient):
        state = _state_failure(consent, at)
        terms = _terms_failure(consent, action, purpose, scan)
        if state is None and terms is None:
            return allow("consent", "Allowed under the patient's consent.", consent=consent)
        failures.append((state, terms, consent))

    if actor.role == Role.CLINICIAN and action in BREAKGLASS_ACTIONS and purpose in BREAKGLASS_PURPOSES:
        breakglass = active_breakglass(actor, patient, at)
        if breakglass is not None:
            return allow(
                "breakglass", "Emergency (break-glass) access, recorded for review.", breakglass=breakglass
            )

    if not failures:
        return deny("no_consent", HIDDEN, 404)
    reason, consent = _most_relevant(failures)
    return deny(reason, _FAILURE_MESSAGES[reason], 403, consent=consent)
