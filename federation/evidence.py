"""Evidence that a peer's log lied: two checkpoints it signed that cannot both be true
(`ledger.equivocation`). Found by the witness endpoint, the monitor or gossip; stored once,
recorded on this node's own ledger (`federation.equivocation`: origin, sizes, roots, the
evidence id; no health data), and the peer is no longer trusted.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from federation.models import Evidence, Peer
from federation.peers import log_verifiers, mark_untrusted
from ledger import equivocation, merkle, note
from ledger.services import record_event

EVENT_TYPE = "federation.equivocation"
VIA = ("add-checkpoint", "monitor", "gossip")


def _proof_text(proof: Sequence[bytes]) -> str:
    return "\n".join(base64.b64encode(h).decode() for h in proof)


def _proof_from_text(text: str) -> tuple[bytes, ...]:
    return tuple(base64.b64decode(line) for line in text.split("\n") if line)


def record_evidence(
    *, peer: Peer, first_note: str, second_note: str, proof: Sequence[bytes] | None, via: str
) -> Evidence | None:
    """Check two signed checkpoints of `peer`'s log and, when they prove a lie, store the
    evidence (once), record it on the ledger and stop trusting the peer. None when they are
    consistent, when either note is not validly signed by the peer's log keys (unsigned
    input is no evidence: anyone could make it up), or when the proof merely fails to verify
    (anyone can write a wrong proof; only one that leads to the larger root and shows
    another prefix proves a fork)."""
    if via not in VIA:
        raise ValueError(f"unknown detection path {via!r}")
    try:
        ev = equivocation.check_pair(first_note, second_note, log_verifiers(peer), proof)
    except (note.NoteError, merkle.ProofError):
        return None
    if ev is None:
        return None
    first = note.parse_checkpoint(note.split_note(ev.first)[0])
    second = note.parse_checkpoint(note.split_note(ev.second)[0])
    with transaction.atomic():
        Peer.objects.select_for_update().filter(pk=peer.pk).first()  # one row per pair, even when raced
        pairs = Evidence.objects.filter(peer=peer)
        row = (
            pairs.filter(first_note=ev.first, second_note=ev.second).first()
            or pairs.filter(first_note=ev.second, second_note=ev.first).first()
        )
        if row is not None:
            return row
        row = Evidence.objects.create(
            peer=peer,
            kind=ev.kind,
            first_note=ev.first,
            second_note=ev.second,
            proof=_proof_text(ev.proof),
            detected_via=via,
        )
        row.ledger_event_id = record_event(
            event_type=EVENT_TYPE,
            payload={
                "log_origin": peer.origin,
                "kind": ev.kind,
                "first_size": first.size,
                "first_root": first.root.hex(),
                "second_size": second.size,
                "second_root": second.root.hex(),
                "evidence_id": row.pk,
                "via": via,
            },
        )
        row.save(update_fields=["ledger_event_id"])
        mark_untrusted(peer, f"{ev.kind} evidence #{row.pk}: its log signed two incompatible checkpoints")
    return row


def evidence_json(ev: Evidence) -> dict[str, Any]:
    """The evidence as anyone can check it offline: `ledger.equivocation.verify_evidence(
    d["evidence"], [note.parse_vkey(k) for k in d["log_keys"]])` (keys to compare with the
    ones the log published, not to trust because they came with the evidence)."""
    return {
        "evidence": equivocation.evidence_to_json(
            equivocation.Evidence(
                kind=ev.kind, first=ev.first_note, second=ev.second_note, proof=_proof_from_text(ev.proof)
            )
        ),
        "origin": ev.peer.origin,
        "log_keys": [v.vkey for v in log_verifiers(ev.peer)],
        "detected_at": ev.detected_at.isoformat(),
        "detected_via": ev.detected_via,
    }
