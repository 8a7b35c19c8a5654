"""What each role's home page shows: the patient who can see their scans now and what needs
their attention; the clinician their recent uploads and what is shared with them; the auditor
the review queue, the ledger's last check and the witnesses. Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from imaging import consent_port
from portal import consent_text, history_selectors
from portal.consent_selectors import patients_of
from portal.models import BreakGlass, Consent, ConsentStatus, User

ATTENTION_DAYS = 30


def patient_home(patient: User, *, zone, at: datetime | None = None) -> dict:
    at = at or timezone.now()
    current = list(
        Consent.objects.filter(
            Q(end__isnull=True) | Q(end__gt=at),
            patient=patient,
            is_current=True,
            status=ConsentStatus.ACTIVE,
            start__lte=at,
        ).select_related("grantee_user__remote_clinician__peer", "grantee_org")
    )
    consent_text.describe_all(current, zone=zone, at=at)
    emergency = list(
        BreakGlass.objects.filter(patient=patient, started_at__gte=at - timedelta(days=ATTENTION_DAYS))
        .select_related("clinician__organisation")
        .order_by("-started_at")
    )
    for bg in emergency:
        bg.open_now = bg.started_at <= at < bg.expires_at
        bg.who = history_selectors.who_words(bg.clinician, patient)
    recent = history_selectors.history_page(patient, history_selectors.Filters(), zone=zone).object_list[:5]
    return {
        "can_see": current,
        "emergency": emergency,
        "recent": recent,
        "unread": patient.notifications.filter(read=False).count(),
    }


def clinician_home(clinician: User) -> dict:
    return {
        "uploads": consent_port.recent_uploads(uploader=clinician, limit=5),
        "shared": patients_of(clinician),
    }


@dataclass(frozen=True)
class LedgerCheck:
    ok: bool | None  # None: no checkpoint yet
    size: int = 0
    signed_at: datetime | None = None
    problem: str = ""


def ledger_check() -> LedgerCheck:
    """The newest checkpoint checked now: its signatures by the published keys, and its root
    against the stored tree (the full re-verification is `manage.py ledger verify`)."""
    from ledger import note
    from ledger.selectors import latest_checkpoint, root_at, verifiers

    cp = latest_checkpoint()
    if cp is None:
        return LedgerCheck(None)
    try:
        text, _ = note.open_note(cp.note, verifiers(), require={note.ALG_FALCON, note.ALG_MLDSA})
        body = note.parse_checkpoint(text)
        if body.root != root_at(body.size):
            raise note.NoteError("the signed root differs from the stored tree")
    except Exception as exc:  # noqa: BLE001 - shown to the auditor
        return LedgerCheck(False, cp.tree_size, cp.created_at, str(exc))
    return LedgerCheck(True, cp.tree_size, cp.created_at)


def auditor_home() -> dict:
    from federation.models import WitnessedCheckpoint
    from federation.selectors import quorum_summary

    witnessed = WitnessedCheckpoint.objects.order_by("-tree_size").only("tree_size", "witnessed_at").first()
    return {
        "queue": BreakGlass.objects.filter(reviewed_at__isnull=True).count(),
        "ledger": ledger_check(),
        "quorum": quorum_summary(),
        "witnessed": witnessed,
    }
