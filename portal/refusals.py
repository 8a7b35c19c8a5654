"""A refused request on patient data as a person should read it: what happened, when, and what
to do next ("the patient revoked access on …; ask the patient, or use emergency access").

Views turn a policy refusal into `refusal_for(...)`: a `Refused` (403, rendered by
templates/403.html through portal.error_pages.permission_denied) or a plain 404 where the
policy hides that the patient exists.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse

from portal.breakglass_selectors import is_organisation_patient
from portal.consent_text import when
from portal.models import Role, User
from portal.policy import Decision
from portal.timezones import zone_of

NO_CONSENT = "The patient has not given you consent to see their scans."


class Refused(PermissionDenied):
    """403 with the refusal's words: `message` (what the policy said), `detail` (when),
    `next_step` (what to do) and `emergency_url` (where emergency access starts, if it may)."""

    def __init__(self, message: str, *, detail: str = "", next_step: str = "", emergency_url: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.next_step = next_step
        self.emergency_url = emergency_url


def _may_break_glass(actor, patient: User) -> bool:
    return getattr(actor, "role", "") == Role.CLINICIAN and is_organisation_patient(actor, patient)


def refusal_for(actor, decision: Decision, *, patient: User, message: str = "") -> Exception:
    """The exception a view raises for a refused `decision` on `patient`'s data."""
    message = message or decision.message
    emergency = _may_break_glass(actor, patient)
    if decision.status_code == 404:
        # a clinician of the patient's own organisation may learn that there is no consent
        # (the patient search shows them the patient anyway); anyone else learns nothing
        if decision.reason == "no_consent" and emergency:
            message = NO_CONSENT
        else:
            return Http404(message)
    zone = zone_of(actor)
    consent = decision.consent
    detail = ""
    if decision.reason == "consent_revoked" and consent is not None:
        detail = f"The patient revoked your access on {when(consent.created_at, zone)}."
    elif decision.reason == "consent_expired" and consent is not None and consent.end:
        detail = f"Your access expired on {when(consent.end, zone)}."
    elif decision.reason == "not_yet_active" and consent is not None:
        detail = f"Your access starts on {when(consent.start, zone)}."
    if decision.reason in ("consent_revoked", "consent_expired", "no_consent"):
        next_step = "Ask the patient to grant you access"
        next_step += ", or use emergency access if this is an emergency." if emergency else "."
    elif decision.reason in ("action_not_granted", "wrong_purpose", "out_of_scope"):
        next_step = "Ask the patient to change what they share with you."
    else:
        next_step = ""
    url = reverse("breakglass", kwargs={"patient_id": patient.pk}) if emergency else ""
    return Refused(message, detail=detail, next_step=next_step, emergency_url=url)
