"""The imaging app's door to the one policy decision point (portal.policy via portal.access).

Every view and API endpoint calls `authorize(...)`, which decides and records the decision
on the ledger and in the patient's access history.
"""

from portal.access import authorize
from portal.consent_selectors import readers_for_scan

MESSAGES = {
    "upload": "You are not allowed to upload scans for this patient.",
    "view": "Scan not found.",
    "download": "Scan not found.",
    "list": "Patient not found.",
}

__all__ = ["MESSAGES", "authorize", "decision_message", "readers_for_scan"]


def decision_message(decision, action: str) -> str:
    return getattr(decision, "message", "") or MESSAGES.get(action, "Not allowed.")
