"""Checkpoints of the peers' logs that this node saw: a signed checkpoint is kept only once it
verifies with the log's trusted keys (anything else is no evidence of anything)."""

from __future__ import annotations

from federation.models import Peer, SeenCheckpoint
from federation.peers import log_verifiers
from ledger import note


def verified_checkpoint(peer: Peer, signed: str) -> note.Checkpoint:
    """The checkpoint of `signed` when it is a checkpoint of `peer`'s log with at least one
    signature by the log's trusted keys; NoteError otherwise."""
    text, _ = note.split_note(signed)
    cp = note.parse_checkpoint(text)
    if cp.origin != peer.origin:
        raise note.NoteError(f"a checkpoint of {cp.origin[:100]!r}, not of {peer.origin!r}")
    if not note.verified_signatures(signed, log_verifiers(peer)):
        raise note.NoteError(f"no signature by the log keys of {peer.origin} verifies")
    return cp


def remember(peer: Peer, cp: note.Checkpoint, signed: str, *, source: str, via: str = "") -> SeenCheckpoint:
    """Keep a verified checkpoint (once per size and root: the first source that saw it)."""
    row, _ = SeenCheckpoint.objects.get_or_create(
        peer=peer,
        tree_size=cp.size,
        root_hash=cp.root,
        defaults={"note": signed, "source": source, "via": via[:255]},
    )
    return row
