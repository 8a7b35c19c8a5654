"""Gossip between witnesses: each node lists what it cosigned last for every log it witnesses
(`GET /network/gossip/cosigned`), and reads its peers' lists (`collect`, by the monitor).

A log that shows one history to one witness and another to a second (a split view) passes
each witness's own checks; only comparing what the witnesses cosigned catches it. Every
gossiped checkpoint carries the log's own signatures, so whoever relays it needs no trust:
a checkpoint is kept only when the log's trusted keys verify it.

The list is JSON::

    {"format": "qmedchain-gossip/v1", "witness": "<witness name>",
     "checkpoints": [{"origin": ..., "tree_size": N, "checkpoint": "<signed note>"}, ...]}

each note with this node's cosignature lines (c2sp.org/tlog-cosignature, timestamped when the
list was made) after the log's signatures.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from django.core.cache import cache

from federation import http
from federation.keys import witness_name, witness_signers
from federation.models import Peer, SeenCheckpoint, WitnessedLog
from federation.peers import trusted_peer
from federation.seen import remember, verified_checkpoint
from ledger import note

log = logging.getLogger(__name__)

FORMAT = "qmedchain-gossip/v1"
GOSSIP_PATH = "/network/gossip/cosigned"
MAX_ENTRIES = 1000
MAX_NOTE_CHARS = 64 * 1024
LIST_CACHE_SECONDS = 60


class GossipUnavailable(Exception):
    """A peer's gossip could not be read (unreachable, not 200, not our format)."""


# --- what this node says ------------------------------------------------------------------------


def cosigned_list() -> dict[str, Any]:
    """The newest checkpoint this node cosigned for each log it witnesses, with its own
    cosignature. Re-signed only when what it cosigned changed, or once a minute."""
    rows = list(WitnessedLog.objects.exclude(checkpoint="").select_related("peer").order_by("peer__origin"))
    state = hashlib.sha256(
        "\n".join(f"{w.peer.origin} {w.size} {bytes(w.root_hash).hex()}" for w in rows).encode()
    ).hexdigest()[:32]
    key = f"federation:gossip:{state}"
    cached = cache.get(key)
    if cached is not None:
        return dict(cached)
    signers = witness_signers() if rows else []
    now = int(time.time())
    items = []
    for w in rows:
        text, _ = note.split_note(w.checkpoint)
        lines = note.signature_lines(text, signers, timestamp=now)
        items.append(
            {
                "origin": w.peer.origin,
                "tree_size": w.size,
                "checkpoint": note.add_signatures(w.checkpoint, lines),
            }
        )
    data = {"format": FORMAT, "witness": witness_name(), "checkpoints": items}
    cache.set(key, data, LIST_CACHE_SECONDS)
    return data


# --- what the peers say ---------------------------------------------------------------------------


def parse_list(body: bytes) -> list[str]:
    """The signed notes of a gossip list; GossipUnavailable when it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise GossipUnavailable("the gossip list is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GossipUnavailable(f"the gossip list is not {FORMAT}")
    entries = data.get("checkpoints")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise GossipUnavailable(f"the gossip list needs a list of at most {MAX_ENTRIES} checkpoints")
    notes = []
    for e in entries:
        signed = e.get("checkpoint") if isinstance(e, dict) else None
        if isinstance(signed, str) and len(signed) <= MAX_NOTE_CHARS:
            notes.append(signed)
    return notes


def collect(peer: Peer) -> list[SeenCheckpoint]:
    """Read `peer`'s gossip and keep every checkpoint in it of a log this node trusts, signed
    by that log (source "gossip", via the peer). Returns the rows it added or found."""
    if not peer.url:
        return []
    try:
        resp = http.get(peer.url.rstrip("/") + GOSSIP_PATH, headers={"Accept": "application/json"})
    except http.PeerUnreachable as exc:
        raise GossipUnavailable(str(exc)) from None
    if resp.status != 200:
        raise GossipUnavailable(f"{peer.url}{GOSSIP_PATH} answered {resp.status}")
    kept = []
    for signed in parse_list(resp.body):
        try:
            origin = note.parse_checkpoint(note.split_note(signed)[0]).origin
        except note.NoteError:
            continue
        log_peer = trusted_peer(origin)
        if log_peer is None or not log_peer.is_log:
            continue  # our own log, or one we do not witness: nothing to hold it against
        try:
            cp = verified_checkpoint(log_peer, signed)
        except note.NoteError as exc:
            log.info("federation gossip from %s: a checkpoint of %s is refused: %s", peer.origin, origin, exc)
            continue
        kept.append(remember(log_peer, cp, signed, source="gossip", via=peer.origin))
    return kept
