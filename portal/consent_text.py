"""The plain-language words of a consent, made from its current state and terms when shown.

Nothing here is stored: a revoked consent reads "could see … until you revoked it on …", an
expired one "could see … until …", whatever was written when it was granted (the text stored
then, `Consent.policy_text`, is kept only as history). Scans are named by modality and study
date ("your CT of 19 Jan 2004"), and times are in the reader's time zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, tzinfo

from django.utils import timezone

from imaging import consent_port
from portal.models import Consent, ConsentStatus, Purpose, ScopeKind

VERBS = {
    "view": "see your scans and their results",
    "download": "download your original images",
    "upload": "add new scans to your record",
}


def when(moment: datetime, zone: tzinfo) -> str:
    """ "5 Dec 2026, 14:03 GMT": a moment in `zone`, named with the zone's abbreviation."""
    local = timezone.localtime(moment, zone)
    return f"{local.day} {local:%b %Y}, {local:%H:%M} {local.tzname()}"


def day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _scope(consent: Consent, names: dict[str, str], ongoing: bool) -> str:
    if consent.scope_kind == ScopeKind.ALL:
        return "all your scans, including future ones" if ongoing else "all your scans"
    if consent.scope_kind == ScopeKind.LISTED:
        ids = {str(s) for s in consent.scope_scan_ids}
        named = [f"your {words}" for i, words in names.items() if i in ids]  # oldest first
        gone = len(ids) - len(named)
        if gone:
            named.append(
                "a scan no longer in your record" if gone == 1 else f"{gone} scans no longer in your record"
            )
        return join(named)
    kind = f"your {consent.scope_modality} scans" if consent.scope_modality else "your scans"
    if consent.scope_from and consent.scope_to:
        return f"{kind} taken from {day(consent.scope_from)} to {day(consent.scope_to)}"
    if consent.scope_from:
        return f"{kind} taken from {day(consent.scope_from)} on"
    if consent.scope_to:
        return f"{kind} taken up to {day(consent.scope_to)}"
    return kind


def _purposes(consent: Consent) -> str:
    words = []
    for code in consent.purposes:
        try:
            words.append(Purpose(code).label.lower())
        except ValueError:
            words.append(str(code))
    return join(words)


def describe(consent: Consent, *, names: dict[str, str], zone: tzinfo, at: datetime | None = None) -> str:
    """The sentence for the patient, from the consent's state at `at` (now by default)."""
    at = at or timezone.now()
    state = consent.effective_status(at)
    who = consent.grantee_label()
    ongoing = state in ("active", "pending")
    what = join([VERBS.get(a, str(a)) for a in consent.actions])
    terms = f"{what}, covering {_scope(consent, names, ongoing)}, for {_purposes(consent)}"
    if state == ConsentStatus.INACTIVE:
        return f"{who} could {terms}, until you revoked it on {when(consent.created_at, zone)}."
    if state == "expired":
        return f"{who} could {terms}, until {when(consent.end, zone)}, when it expired."
    if state == ConsentStatus.REJECTED:
        return f"This consent was rejected: {who} cannot {terms}."
    until = f"until {when(consent.end, zone)}" if consent.end else "until you revoke it"
    if state == "pending":
        return (
            f"{who} will be able to {terms}, from {when(consent.start, zone)} {until}. "
            "You can revoke this at any time."
        )
    return f"{who} may {terms}, {until}. You can revoke this at any time."


def names_for(consents: Iterable[Consent]) -> dict[str, str]:
    """The words for every scan the consents list, in one query."""
    ids = {str(s) for c in consents if c.scope_kind == ScopeKind.LISTED for s in c.scope_scan_ids}
    return consent_port.scan_names(scan_ids=ids) if ids else {}


def describe_all(consents: list[Consent], *, zone: tzinfo, at: datetime | None = None) -> list[Consent]:
    """Each consent with `.summary` set; the same list, for templates."""
    at = at or timezone.now()
    names = names_for(consents)
    for consent in consents:
        consent.summary = describe(consent, names=names, zone=zone, at=at)
    return consents
