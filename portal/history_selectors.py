"""The patient's access history in plain words: who (person and organisation), did what to
which scan, why, and whether it was allowed; filtered and paged. Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils import timezone

from imaging import consent_port
from portal.models import AccessEvent, Role, User

PAGE_SIZE = 25

PURPOSE_WORDS = {
    "TREAT": "treatment",
    "ETREAT": "emergency treatment",
    "HRESCH": "research",
    "PATRQT": "at your request",
}
# what was done: with a scan ("opened your CT of …") and without one
ACTION_WORDS = {
    "view": ("opened your {scan}", "opened one of your scans"),
    "download": ("downloaded the original images of your {scan}", "downloaded original images"),
    "upload": ("added your {scan}", "added a scan to your record"),
    "list": ("looked at the list of your scans", "looked at the list of your scans"),
    "view_history": ("looked at your access history", "looked at your access history"),
    "grant": ("changed who may see your scans", "changed who may see your scans"),
    "revoke": ("revoked an access", "revoked an access"),
}
# why a request was refused, for the patient
REFUSAL_WORDS = {
    "no_consent": "you had not given them consent",
    "consent_revoked": "you had revoked their access",
    "consent_expired": "their access had expired",
    "consent_rejected": "the consent was rejected",
    "not_yet_active": "their access had not started yet",
    "action_not_granted": "your consent does not allow that",
    "wrong_purpose": "your consent does not cover that purpose",
    "out_of_scope": "that scan is not among those you share",
    "owner_only": "only you may do that",
    "role_not_permitted": "their role may not see patient data",
    "anonymous": "they were not signed in",
}
# why a request was allowed
ALLOWED_WORDS = {
    "owner": "your own request",
    "consent": "under your consent",
    "breakglass": "emergency access, reviewed by an auditor",
}


def purpose_words(code: str) -> str:
    return PURPOSE_WORDS.get(code, code.lower() if code else "not given")


def who_words(actor: User | None, patient: User) -> str:
    """ "Ada Lovelace at St Mary's Hospital", "Dr X at hospital B" (a peer's clinician),
    "You", "Acme Imaging (an app you registered)"."""
    if actor is None:
        return "Someone who was not signed in"
    if actor.pk == patient.pk:
        return "You"
    name = actor.display_name()
    if actor.role == Role.REMOTE_CLINICIAN:
        return name  # already "Dr X at hospital B"
    if actor.role == Role.API_CLIENT:
        return f"{name} (a connected application)"
    if actor.organisation_id:
        return f"{name} at {actor.organisation.name}"
    return name


def what_words(event: AccessEvent, scans: dict[str, str]) -> str:
    with_scan, without = ACTION_WORDS.get(event.action, (event.action, event.action))
    label = scans.get(str(event.scan_id)) if event.scan_id else None
    return with_scan.format(scan=label) if label else without


def outcome_words(event: AccessEvent) -> str:
    if event.allowed:
        return ALLOWED_WORDS.get(event.reason, "allowed")
    return REFUSAL_WORDS.get(event.reason, "refused")


@dataclass(frozen=True)
class Filters:
    who: str = ""  # a user id among the history's actors
    since: date | None = None
    until: date | None = None
    outcome: str = ""  # "", "allowed", "refused"


def _events(patient: User, f: Filters, zone) -> QuerySet[AccessEvent]:
    qs = AccessEvent.objects.filter(patient=patient).select_related(
        "actor__organisation", "actor__remote_clinician__peer", "consent", "breakglass"
    )
    if f.who:
        qs = qs.filter(actor_id=f.who)
    if f.since:
        qs = qs.filter(at__gte=timezone.make_aware(datetime.combine(f.since, time.min), zone))
    if f.until:
        end = timezone.make_aware(datetime.combine(f.until + timedelta(days=1), time.min), zone)
        qs = qs.filter(at__lt=end)
    if f.outcome == "allowed":
        qs = qs.filter(allowed=True)
    elif f.outcome == "refused":
        qs = qs.filter(allowed=False)
    return qs.order_by("-at")


def actors_of(patient: User) -> list[tuple[str, str]]:
    """(id, words) of everyone in the patient's history, for the "who" filter."""
    ids = AccessEvent.objects.filter(patient=patient, actor__isnull=False).values_list("actor_id", flat=True)
    people = User.objects.filter(pk__in=ids.distinct()).select_related(
        "organisation", "remote_clinician__peer"
    )
    return sorted(((str(u.pk), who_words(u, patient)) for u in people), key=lambda row: row[1])


def history_page(patient: User, f: Filters, *, page: int | str = 1, zone=None) -> Page:
    """One page of the history, newest first, each event with `.who`, `.what`, `.why`
    (purpose words) and `.outcome` set."""
    zone = zone or timezone.get_current_timezone()
    paginator = Paginator(_events(patient, f, zone), PAGE_SIZE)
    current = paginator.get_page(page)
    events = list(current.object_list)
    scans = consent_port.scan_names(scan_ids={e.scan_id for e in events if e.scan_id})
    for event in events:
        event.who = who_words(event.actor, patient)
        event.what = what_words(event, scans)
        event.why = purpose_words(event.purpose)
        event.outcome = outcome_words(event)
    current.object_list = events
    return current
