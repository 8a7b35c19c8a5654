"""Writes on consent: grant, revoke, expire, break-glass. Keys follow consent.

Every write runs in one transaction that also (a) adds or deletes the grantee's key wraps
and (b) records the ledger event, so a revocation either happens completely — status,
wraps gone, ledger event pending — or not at all.
"""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.keyvault import pseudonym
from imaging import consent_port
from ledger.services import record_event
from portal import keys
from portal.consent_selectors import ReaderReads, consent_readers
from portal.models import (
    Action,
    BreakGlass,
    Consent,
    ConsentStatus,
    Notification,
    Organisation,
    Purpose,
    Role,
    ScopeKind,
    User,
    UserKeyPair,
)
from portal.models.consent import TERM_FIELDS
from portal.policy import GRANTEE_ROLES

# what a new version of a contract carries over from the previous one
VERSIONED_FIELDS = ["series", "patient", *TERM_FIELDS, "policy_text"]
BREAKGLASS_DEFAULT = timedelta(hours=getattr(settings, "QMC_BREAKGLASS_HOURS", 4))


class ConsentError(ValueError):
    """A consent request a person must correct; the message says how."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.message = message
        self.status_code = status_code


# --- keys follow consent -------------------------------------------------------------------


def sync_reader_wraps(*, patient: User, reader: User, at: datetime | None = None) -> tuple[int, int]:
    """Make `reader`'s key wraps for `patient`'s objects exactly what active consent and
    break-glass allow now: add missing wraps (re-wrapping the system copy), delete the rest."""
    at = at or timezone.now()
    reads = ReaderReads(patient.pk, at)
    should = consent_port.object_ids_readable(
        patient=patient, may_read=lambda scan: reader.pk in reads.reader_ids(scan)
    )
    existing = set(
        keys.WrappedKey.objects.filter(patient=patient, reader=reader).values_list("object_id", flat=True)
    )
    added = 0
    for object_id in should - existing:
        data_key = keys.unwrap_for(object_id=object_id, reader=None)
        keys.wrap_for(object_id=object_id, patient=patient, data_key=data_key, reader=reader)
        added += 1
    removed = keys.delete_wraps(reader=reader, object_ids=existing - should)
    return added, removed


def _sync_consent_readers(consent: Consent) -> None:
    for reader in consent_readers(consent):
        sync_reader_wraps(patient=consent.patient, reader=reader)


# --- validation and wording ----------------------------------------------------------------


def _clean_choices(values, choices, what: str) -> list[str]:
    values = list(dict.fromkeys(values or []))
    if not values:
        raise ConsentError(f"Choose at least one {what}.")
    unknown = [v for v in values if v not in choices.values]
    if unknown:
        raise ConsentError(
            f"Unknown {what}: {', '.join(map(str, unknown))}. Use one of: {', '.join(choices.values)}."
        )
    return values


def summarize(
    *,
    grantee_label: str,
    actions,
    purposes,
    scope_kind,
    scope_scan_ids,
    scope_modality,
    scope_from,
    scope_to,
    start,
    end,
) -> str:
    """The plain-language text shown to the patient and stored as the contract's policy text."""
    verbs = {
        "view": "see your scans and their results",
        "download": "download your original images",
        "upload": "add new scans to your record",
    }
    what = " and ".join(verbs[a] for a in actions)
    if scope_kind == ScopeKind.ALL:
        scope = "all your scans, including future ones"
    elif scope_kind == ScopeKind.LISTED:
        scope = f"{len(scope_scan_ids)} scan(s) you picked"
    else:
        parts = [f"{scope_modality} scans" if scope_modality else "scans"]
        if scope_from:
            parts.append(f"from {scope_from:%d %b %Y}")
        if scope_to:
            parts.append(f"up to {scope_to:%d %b %Y}")
        scope = " ".join(parts)
    why = ", ".join(Purpose(p).label.lower() for p in purposes)
    until = f"until {end:%d %b %Y %H:%M} UTC" if end else "until you revoke it"
    return (
        f"{grantee_label} may {what}, covering {scope}, for {why}, "
        f"from {start:%d %b %Y %H:%M} UTC {until}. You can revoke this at any time."
    )


def _grantee_pid(consent: Consent) -> dict:
    if consent.grantee_user_id:
        return {"grantee": pseudonym("user", consent.grantee_user_id), "kind": consent.grantee_user.role}
    return {"grantee_organisation": consent.grantee_org_id, "kind": "organisation"}


def _consent_payload(consent: Consent, at) -> dict:
    payload = {
        "consent_id": consent.id,
        "patient": pseudonym("patient", consent.patient_id),
        "scope": consent.scope_kind,
        "scopes": [a for a in consent.actions] + [f"purpose:{p.lower()}" for p in consent.purposes],
        "valid_from": consent.start,
        "status": consent.status,
        "at": at,
        **_grantee_pid(consent),
    }
    if consent.end:
        payload["valid_until"] = consent.end
    return payload


# --- services ------------------------------------------------------------------------------


@transaction.atomic
def consent_grant(
    *,
    patient: User,
    actions: list[str],
    purposes: list[str],
    grantee_user: User | None = None,
    grantee_org: Organisation | None = None,
    scope_kind: str = ScopeKind.ALL,
    scope_scan_ids: list | None = None,
    scope_modality: str = "",
    scope_from: date | None = None,
    scope_to: date | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    created_by: User | None = None,
) -> Consent:
    now = timezone.now()
    created_by = created_by or patient
    if patient.role != Role.PATIENT:
        raise ConsentError("Only patients can grant access to their scans.", 403)
    if created_by.pk != patient.pk:
        raise ConsentError("Only the patient can grant access to their own scans.", 403)
    if (grantee_user is None) == (grantee_org is None):
        raise ConsentError("Choose exactly one grantee: a clinician, an organisation or an API client.")
    if grantee_user is not None and grantee_user.role not in GRANTEE_ROLES:
        raise ConsentError(
            "The grantee must be a clinician (of this hospital or of a peer) or a registered API client."
        )
    if grantee_user is not None and not grantee_user.is_active:
        raise ConsentError("That grantee's account is not active.")
    if grantee_user is not None and grantee_user.role == Role.REMOTE_CLINICIAN:
        # the data keys are wrapped for the public key from the peer's signed directory;
        # generating a key pair here instead would lock the clinician out of what they get
        if not UserKeyPair.objects.filter(user=grantee_user).exists():
            raise ConsentError("That clinician's hospital has not published a key for them yet.")
    actions = _clean_choices(actions, Action, "action")
    purposes = _clean_choices(purposes, Purpose, "purpose of use")
    if scope_kind not in ScopeKind.values:
        raise ConsentError(f"Unknown scope '{scope_kind}'.")
    start = start or now
    if end is not None and end <= now:
        raise ConsentError("The end of the period is already in the past.")
    if end is not None and end <= start:
        raise ConsentError("The end of the period must be after its start.")
    scan_ids: list[str] = []
    if scope_kind == ScopeKind.LISTED:
        scan_ids = sorted({str(s) for s in (scope_scan_ids or [])})
        if not scan_ids:
            raise ConsentError("Pick at least one scan to share.")
        owned = consent_port.owned_scan_ids(patient=patient, scan_ids=scan_ids)
        if owned != set(scan_ids):
            raise ConsentError("Some of the picked scans are not yours or do not exist.", 404)
    if scope_kind == ScopeKind.FILTER:
        if not (scope_modality or scope_from or scope_to):
            raise ConsentError("A filter needs a modality or a date range.")
        if scope_from and scope_to and scope_to < scope_from:
            raise ConsentError("The date range ends before it starts.")
    grantee_label = (
        grantee_user.display_name() if grantee_user else f"{grantee_org.name} (all its clinicians)"
    )
    terms = {
        "actions": actions,
        "purposes": purposes,
        "scope_kind": scope_kind,
        "scope_scan_ids": scan_ids,
        "scope_modality": (scope_modality or "").upper(),
        "scope_from": scope_from,
        "scope_to": scope_to,
        "start": start,
        "end": end,
    }
    consent = Consent.objects.create(
        patient=patient,
        grantee_user=grantee_user,
        grantee_org=grantee_org,
        created_by=created_by,
        policy_text=summarize(grantee_label=grantee_label, **terms),
        **terms,
    )
    _sync_consent_readers(consent)
    record_event(event_type="consent.granted", payload={**_consent_payload(consent, now), "granted_at": now})
    return consent


@transaction.atomic
def consent_revoke(*, actor: User, consent: Consent) -> tuple[Consent, bool]:
    """Revoke the current version. Returns (current version, changed). Already revoked: no-op."""
    current = Consent.objects.select_for_update().filter(series=consent.series, is_current=True).first()
    if current is None or current.patient_id != actor.pk:
        raise ConsentError("No such consent.", 404)
    if current.status != ConsentStatus.ACTIVE:
        return current, False
    now = timezone.now()
    Consent.objects.filter(pk=current.pk).update(is_current=False)
    revoked = Consent.objects.create(
        **{field: getattr(current, field) for field in VERSIONED_FIELDS},
        version=current.version + 1,
        is_current=True,
        status=ConsentStatus.INACTIVE,
        created_by=actor,
        created_at=now,
    )
    _sync_consent_readers(revoked)
    record_event(event_type="consent.revoked", payload={**_consent_payload(revoked, now), "revoked_at": now})
    return revoked, True


@transaction.atomic
def consent_record_expiry(*, consent: Consent) -> bool:
    """Record that a consent's period has ended (once), and remove the grantee's wraps."""
    row = Consent.objects.select_for_update().get(pk=consent.pk)
    now = timezone.now()
    if row.expiry_recorded_at is not None or not row.is_current or not row.is_expired(now):
        return False
    Consent.objects.filter(pk=row.pk).update(expiry_recorded_at=now)
    _sync_consent_readers(row)
    record_event(event_type="consent.expired", payload={**_consent_payload(row, now), "expires_at": row.end})
    Notification.objects.create(
        user=row.patient,
        kind="consent.expired",
        text=f"Your consent for {row.grantee_label()} has expired; they no longer see your scans.",
    )
    return True


def consents_sweep(at: datetime | None = None) -> dict:
    """Periodic: record expiries and wrap keys for consents whose start has come. Idempotent."""
    at = at or timezone.now()
    expired = 0
    for consent in Consent.objects.filter(
        is_current=True, status=ConsentStatus.ACTIVE, end__lte=at, expiry_recorded_at__isnull=True
    ):
        expired += consent_record_expiry(consent=consent)
    for bg in BreakGlass.objects.filter(expires_at__lte=at, expires_at__gt=at - timedelta(days=1)):
        with transaction.atomic():
            sync_reader_wraps(patient=bg.patient, reader=bg.clinician, at=at)
    started = Consent.objects.filter(
        is_current=True, status=ConsentStatus.ACTIVE, start__lte=at, start__gt=at - timedelta(days=1)
    )
    for consent in started:
        with transaction.atomic():
            _sync_consent_readers(consent)
    return {"expired": expired}


@transaction.atomic
def breakglass_open(
    *, clinician: User, patient: User, reason: str, duration: timedelta | None = None
) -> BreakGlass:
    if clinician.role != Role.CLINICIAN:
        raise ConsentError("Only clinicians can use emergency access.", 403)
    if patient.role != Role.PATIENT:
        raise ConsentError("No such patient.", 404)
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise ConsentError("Give the emergency reason in a sentence (at least 10 characters).")
    duration = duration or BREAKGLASS_DEFAULT
    if not timedelta(minutes=5) <= duration <= timedelta(hours=24):
        raise ConsentError("Emergency access lasts between 5 minutes and 24 hours.")
    now = timezone.now()
    bg = BreakGlass.objects.create(
        clinician=clinician, patient=patient, reason=reason, started_at=now, expires_at=now + duration
    )
    sync_reader_wraps(patient=patient, reader=clinician, at=now)
    bg.ledger_event_id = record_event(
        event_type="breakglass.used",
        payload={
            "actor": pseudonym("user", clinician.pk),
            "clinician": pseudonym("user", clinician.pk),
            "patient": pseudonym("patient", patient.pk),
            "at": now,
            "expires_at": bg.expires_at,
            "duration_seconds": int(duration.total_seconds()),
            "emergency": True,
            "purpose": "etreat",
        },
    )
    bg.save(update_fields=["ledger_event_id"])
    Notification.objects.create(
        user=patient,
        kind="breakglass.used",
        text=f"{clinician.display_name()} used emergency access to your scans until {bg.expires_at:%d %b %H:%M} UTC.",
    )
    return bg


@transaction.atomic
def breakglass_review(
    *, auditor: User, breakglass: BreakGlass, note: str, outcome: str = "justified"
) -> BreakGlass:
    """Sign off an emergency access as justified or unjustified, with a note (once)."""
    if auditor.role != Role.AUDITOR:
        raise ConsentError("Only auditors sign off emergency access.", 403)
    if outcome not in ("justified", "unjustified"):
        raise ConsentError("Choose whether the emergency access was justified.", 400)
    if breakglass.reviewed_at is not None:
        return breakglass
    breakglass.reviewed_by = auditor
    breakglass.reviewed_at = timezone.now()
    breakglass.review_note = (note or "").strip()[:2000]
    breakglass.outcome = outcome
    breakglass.save(update_fields=["reviewed_by", "reviewed_at", "review_note", "outcome"])
    return breakglass
