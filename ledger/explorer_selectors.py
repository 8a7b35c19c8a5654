"""Reads for the ledger explorer (ledger/explorer_views.py): entries by type and time, one
entry with its inclusion proof, checkpoints. Everything here is public ledger data (the
entries carry no health data: salted commitments and unlinkable references)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from django.db.models import QuerySet

from ledger import merkle
from ledger.models import Checkpoint, Entry
from ledger.selectors import entry_json, inclusion_proof


def event_types() -> list[str]:
    return sorted(Entry.objects.values_list("event_type", flat=True).distinct())


def entries(*, event_type: str = "", since: str = "", until: str = "") -> QuerySet[Entry]:
    """Newest first. `since`/`until` are ISO dates (YYYY-MM-DD, UTC); the signed timestamps are
    UTC ISO 8601 text, so they compare as strings."""
    qs = Entry.objects.defer("prev_hash", "signature", "fingerprints").order_by("-index")
    if event_type:
        qs = qs.filter(event_type=event_type)
    if since:
        qs = qs.filter(timestamp__gte=since)
    if until:
        qs = qs.filter(timestamp__lt=f"{until}T99")  # the whole of that day
    return qs


def checkpoints() -> QuerySet[Checkpoint]:
    return Checkpoint.objects.order_by("-tree_size", "-id")


@dataclass
class EntryView:
    entry: Entry
    record: dict
    payload: str  # pretty JSON
    checkpoint: Checkpoint | None = None
    proof: list[str] = field(default_factory=list)  # base64 sibling hashes, leaf to root
    proof_ok: bool | None = None  # None: no checkpoint covers the entry yet
    problem: str = ""


def entry_view(index: int) -> EntryView | None:
    """One entry, its signed record, and its inclusion proof against the newest checkpoint that
    covers it, checked here against that checkpoint's root."""
    e = Entry.objects.filter(index=index).first()
    if e is None:
        return None
    try:
        payload = json.dumps(json.loads(e.payload), indent=2, sort_keys=True)
    except ValueError:
        payload = e.payload
    view = EntryView(entry=e, record=entry_json(e), payload=payload)
    cp = Checkpoint.objects.filter(tree_size__gt=e.index).order_by("-tree_size", "-id").first()
    if cp is None:
        return view
    view.checkpoint = cp
    try:
        proof = inclusion_proof(e.index, cp.tree_size)
        merkle.verify_inclusion(e.index, cp.tree_size, bytes(e.leaf_hash), proof, bytes(cp.root_hash))
    except merkle.ProofError as exc:
        view.proof_ok, view.problem = False, str(exc)
        return view
    view.proof = [base64.b64encode(h).decode() for h in proof]
    view.proof_ok = True
    return view
