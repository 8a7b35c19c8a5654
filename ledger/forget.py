"""Forgetting the openings of a patient's entries (crypto-shredding, imaging/erasure.py).

The public entries hold salted commitments only; the openings (salt and value of each fact)
are in the private index. Deleting a patient's openings leaves commitments that nobody can
open any more: the log still verifies (nothing in it changes), the facts are gone.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.models import EntryOpening


def openings_forget(*, subject: str, event_ids: Iterable) -> int:
    """Delete the openings about pseudonym `subject` and those of `event_ids` (entries about
    the patient's scans recorded without a subject). Returns how many went."""
    by_subject = EntryOpening.objects.filter(subject=subject).delete()[0] if subject else 0
    ids = [e for e in event_ids if e]
    by_event = EntryOpening.objects.filter(event_id__in=ids).delete()[0] if ids else 0
    return by_subject + by_event
