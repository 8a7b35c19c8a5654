"""Authorize a request on patient data: ask the policy decision point, then record the answer.

Every view, API endpoint and task that touches patient data calls `authorize`. The decision
lands in the patient's access history (AccessEvent, with names, for the patient's eyes) and
on the ledger (`scan.accessed` / `access.denied`, pseudonymous ids and codes only).
"""

import dataclasses
import uuid

from django.utils import timezone

from core.keyvault import pseudonym
from ledger.services import record_event
from portal import policy
from portal.models import AccessEvent, User


def _ledger_payload(actor, patient, action, purpose, decision, scan, at) -> dict:
    payload = {
        "actor": pseudonym("user", actor.pk) if actor else None,
        "role": actor.role if actor else "anonymous",
        "patient": pseudonym("patient", patient.pk),
        "action": action,
        "purpose": purpose.lower(),
        "decision": "allow" if decision.allowed else "deny",
        "reason": decision.reason,
        "at": at,
        "emergency": decision.breakglass is not None,
    }
    if scan is not None:
        payload["scan_id"] = scan.id
    if decision.consent is not None:
        payload["consent_id"] = decision.consent.id
    return {k: v for k, v in payload.items() if v is not None}


def authorize(
    *, actor, action: str, patient: User | None = None, scan=None, purpose: str = "TREAT", record: bool = True
) -> policy.Decision:
    """Decide and record. `record=False` only for listing pages that record one summary event."""
    at = timezone.now()
    resource = scan if scan is not None else patient
    decision = policy.decide(actor, action, resource, purpose, at)
    target = scan.patient if scan is not None else patient
    if decision.breakglass is not None:
        purpose = "ETREAT"  # break-glass access is emergency treatment, whatever was declared
    if decision.reason == "consent_expired" and decision.consent is not None:
        from portal.consent_services import consent_record_expiry

        consent_record_expiry(consent=decision.consent)
    if (
        not record
        or target is None
        or getattr(target, "role", None) != "patient"
        or decision.status_code == 400
    ):
        return decision
    actor_row = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    event_id = uuid.uuid4()
    access = AccessEvent(
        at=at,
        actor=actor_row,
        patient=target,
        scan_id=scan.id if scan is not None else None,
        action=action,
        purpose=purpose,
        allowed=decision.allowed,
        reason=decision.reason,
        consent=decision.consent,
        breakglass=decision.breakglass,
        ledger_event_id=event_id,
    )
    # the ledger event and the access-history row, all or none (one statement on PostgreSQL)
    record_event(
        event_type="scan.accessed" if decision.allowed else "access.denied",
        payload=_ledger_payload(actor_row, target, action, purpose, decision, scan, at),
        event_id=event_id,
        known_new=True,
        with_rows=[access],
    )
    return dataclasses.replace(decision, event_id=event_id)
