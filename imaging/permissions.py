"""The imaging app's door to the policy decision point and the consent readers.

Every view and API endpoint calls `authorize(...)` here, which is `portal.access.authorize`
(the one decision point; it records each decision on the ledger and in the access
history). `readers_for_scan` is `portal.consent_selectors.readers_for_scan`.

Until those two portal modules exist in the tree, a conservative interim rule is used
(the patient themself, or a clinician holding an active, current consent of the patient
for the action with scope "all" or listing the scan) and nothing is recorded. It is
deliberately narrower than the portal's policy, never wider.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

MESSAGES = {
    "upload": "You are not allowed to upload scans for this patient.",
    "view": "Scan not found.",
    "download": "Scan not found.",
    "list": "Patient not found.",
}


@dataclass(frozen=True)
class InterimDecision:
    allowed: bool
    reason: str
    status_code: int = 403
    message: str = ""


def _interim_authorize(*, actor, action, patient, scan=None, purpose="TREAT") -> InterimDecision:
    from portal.models import Consent, ConsentStatus

    if not getattr(actor, "is_authenticated", False) or not getattr(actor, "is_active", False):
        allowed, reason = False, "unauthenticated"
    elif actor.pk == patient.pk:
        allowed, reason = True, "own-data"
    elif getattr(actor, "role", "") == "clinician":
        now = timezone.now()
        q = Consent.objects.filter(
            patient=patient, is_current=True, status=ConsentStatus.ACTIVE, start__lte=now
        ).filter(models_q_grantee(actor))
        allowed = False
        for c in q:
            if c.is_expired(now) or action not in (c.actions or []) and action != "list":
                continue
            if purpose not in (c.purposes or [purpose]):
                continue
            if scan is None or c.scope_kind == "all" or str(scan.pk) in (c.scope_scan_ids or []):
                allowed = True
                break
        reason = "consent" if allowed else "no-consent"
    else:
        allowed, reason = False, "role"
    status = 403 if action == "upload" else 404
    return InterimDecision(
        allowed=allowed,
        reason=reason,
        status_code=status,
        message="" if allowed else MESSAGES.get(action, ""),
    )


def models_q_grantee(actor):
    from django.db.models import Q

    q = Q(grantee_user=actor)
    if getattr(actor, "organisation_id", None):
        q |= Q(grantee_org_id=actor.organisation_id)
    return q


def authorize(*, actor, action: str, patient, scan=None, purpose: str = "TREAT", record: bool = True):
    """`record=False` only for status polling (the page view itself is recorded)."""
    try:
        from portal.access import authorize as portal_authorize
    except ImportError:
        return _interim_authorize(actor=actor, action=action, patient=patient, scan=scan, purpose=purpose)
    return portal_authorize(
        actor=actor, action=action, patient=patient, scan=scan, purpose=purpose, record=record
    )


def readers_for_scan(scan) -> list:
    try:
        from portal.consent_selectors import readers_for_scan as portal_readers
    except ImportError:
        return []
    return list(portal_readers(scan))


def decision_message(decision, action: str) -> str:
    return getattr(decision, "message", "") or MESSAGES.get(action, "Not allowed.")
