"""Reads for the network pages: this node's identity and keys, its peers, its checkpoints with
the cosignatures they collected, what it saw of each peer, evidence, and the simulated
quantum checks. No writes here (`federation.peers` / `federation.simulations` do those)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, OuterRef, QuerySet, Subquery

from federation.models import (
    Cosignature,
    Evidence,
    Peer,
    PeerKey,
    QuantumCheck,
    SeenCheckpoint,
    WitnessedCheckpoint,
)
from federation.peers import fingerprint
from ledger import note
from ledger import policy as policy_format
from ledger.models import Checkpoint

RECENT_CHECKPOINTS = 20
SEEN_HISTORY = 50


# --- keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFingerprint:
    """What an administrator reads aloud to the other hospital before trusting a key."""

    vkey: str
    name: str
    key_id: str
    algorithm: str
    sha256: str  # federation.peers.fingerprint: the form the CLI prints
    purpose: str = ""  # "log" | "witness" where known


def key_fingerprint(vkey: str, purpose: str = "") -> KeyFingerprint:
    """Raises note.NoteError for a malformed vkey."""
    v = note.parse_vkey(vkey)
    return KeyFingerprint(v.vkey, v.name, v.key_id_hex, v.algorithm, fingerprint(v), purpose)


def node_identity() -> dict[str, Any]:
    """This node: name, origin, witness name, base URL and its keys with fingerprints."""
    from django.conf import settings

    from federation.keys import show_keys, witness_name

    keys = show_keys()
    return {
        "name": settings.FEDERATION_NODE_NAME,
        "origin": keys["origin"],
        "witness_name": witness_name(),
        "base_url": settings.FEDERATION_BASE_URL,
        "log_keys": [key_fingerprint(k, "log") for k in keys["log"]],
        "witness_keys": [key_fingerprint(k, "witness") for k in keys["witness"]],
    }


def peer_keys(peer: Peer) -> list[KeyFingerprint]:
    return [
        key_fingerprint(k.vkey, k.purpose)
        for k in PeerKey.objects.filter(peer=peer).order_by("purpose", "id")
    ]


# --- policy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuorumSummary:
    """The witness policy in words: `k` of `n` at the top, `text` the whole rule."""

    k: int
    n: int
    text: str
    witnesses: tuple[str, ...]  # the witness names the policy knows
    source: str  # "policy file" | "majority of the witness peers"
    error: str = ""


def _describe(policy: policy_format.Policy, name: str) -> str:
    if name in policy.witnesses:
        return name
    group = policy.groups[name]
    parts = [_describe(policy, m) for m in group.members]
    return f"{group.threshold} of {len(parts)} ({', '.join(parts)})"


def describe_policy(policy: policy_format.Policy, source: str) -> QuorumSummary:
    names = tuple(policy.witnesses)
    if policy.quorum == policy_format.NONE:
        text = "no witnesses: no checkpoint is witnessed"
        return QuorumSummary(0, len(names), text, names, source)
    if policy.quorum in policy.witnesses:
        return QuorumSummary(1, 1, f"1 of 1 ({policy.quorum})", names, source)
    group = policy.groups[policy.quorum]
    return QuorumSummary(group.threshold, len(group.members), _describe(policy, policy.quorum), names, source)


def quorum_summary() -> QuorumSummary:
    from django.conf import settings

    from federation import quorum

    source = "policy file" if settings.FEDERATION_POLICY_FILE else "majority of the witness peers"
    try:
        return describe_policy(quorum.effective_policy(), source)
    except (OSError, policy_format.PolicyError) as exc:
        return QuorumSummary(0, 0, "", (), source, error=str(exc))


# --- peers -------------------------------------------------------------------------------------


@dataclass
class PeerRow:
    peer: Peer
    last_seen: SeenCheckpoint | None = None
    cosigned_size: int | None = None  # the newest size of its log this node cosigned
    cosigned_at: dt.datetime | None = None
    pushed_size: int | None = None  # the newest size of our log it cosigned
    push_error: str = ""
    evidence: int = 0


def peers_overview() -> list[PeerRow]:
    """Every peer with the newest checkpoint seen of it and the witnessing state both ways
    (two queries)."""
    newest = SeenCheckpoint.objects.filter(peer=OuterRef("pk")).order_by("-tree_size", "-seen_at", "-id")
    peers = list(
        Peer.objects.select_related("witnessed", "push")
        .annotate(evidence_count=Count("evidence"), last_seen_id=Subquery(newest.values("pk")[:1]))
        .order_by("origin")
    )
    seen = SeenCheckpoint.objects.in_bulk([p.last_seen_id for p in peers if p.last_seen_id])
    out = []
    for p in peers:
        r = PeerRow(p, last_seen=seen.get(p.last_seen_id), evidence=p.evidence_count)
        witnessed = getattr(p, "witnessed", None)
        if witnessed is not None and witnessed.root_hash:
            r.cosigned_size, r.cosigned_at = witnessed.size, witnessed.updated_at
        push = getattr(p, "push", None)
        if push is not None:
            r.pushed_size, r.push_error = push.size, push.last_error
        out.append(r)
    return out


def peer_by_id(peer_id: int) -> Peer | None:
    return Peer.objects.filter(pk=peer_id).first()


def seen_history(peer: Peer, limit: int = SEEN_HISTORY) -> QuerySet[SeenCheckpoint]:
    return SeenCheckpoint.objects.filter(peer=peer).order_by("-tree_size", "-seen_at")[:limit]


# --- our checkpoints ---------------------------------------------------------------------------


@dataclass
class CosignatureRow:
    witness: str  # the peer's name or origin
    peer_id: int
    algorithm: str
    key_id: str
    signed_at: dt.datetime | None  # the witness's own clock (cosignature timestamp)
    received_at: dt.datetime


@dataclass
class CheckpointRow:
    checkpoint: Checkpoint
    cosignatures: list[CosignatureRow] = field(default_factory=list)
    witnessed_at: dt.datetime | None = None

    @property
    def witnessed(self) -> bool:
        return self.witnessed_at is not None

    @property
    def witnesses(self) -> int:
        """How many distinct witnesses cosigned it."""
        return len({c.peer_id for c in self.cosignatures})


def _timestamp(ts: int | None) -> dt.datetime | None:
    if ts is None:
        return None
    try:
        return dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def recent_checkpoints(limit: int = RECENT_CHECKPOINTS) -> list[CheckpointRow]:
    """This node's newest checkpoints, each with its cosignatures and whether it is witnessed
    (three queries)."""
    cps = list(Checkpoint.objects.order_by("-tree_size", "-id")[:limit])
    ids = [c.pk for c in cps]
    by_cp: dict[int, list[CosignatureRow]] = {i: [] for i in ids}
    for c in (
        Cosignature.objects.filter(checkpoint_id__in=ids)
        .select_related("peer")
        .order_by("peer__origin", "id")
    ):
        by_cp[c.checkpoint_id].append(
            CosignatureRow(
                str(c.peer), c.peer_id, c.algorithm, c.key_id, _timestamp(c.timestamp), c.received_at
            )
        )
    witnessed = dict(
        WitnessedCheckpoint.objects.filter(checkpoint_id__in=ids).values_list("checkpoint_id", "witnessed_at")
    )
    return [CheckpointRow(cp, by_cp[cp.pk], witnessed.get(cp.pk)) for cp in cps]


# --- evidence and simulations ------------------------------------------------------------------


def evidence_list() -> QuerySet[Evidence]:
    return Evidence.objects.select_related("peer").order_by("-detected_at", "-id")


def evidence_of(peer: Peer) -> QuerySet[Evidence]:
    return evidence_list().filter(peer=peer)


def evidence_by_id(evidence_id: int) -> Evidence | None:
    return evidence_list().filter(pk=evidence_id).first()


def evidence_count() -> int:
    return Evidence.objects.count()


def latest_quantum_check(peer: Peer) -> QuantumCheck | None:
    return QuantumCheck.objects.filter(peer=peer).order_by("-ran_at", "-id").first()


def checkpoint_summary(note_text: str) -> note.Checkpoint | None:
    """Size and root of a signed checkpoint note, for display (None when unreadable)."""
    try:
        return note.parse_checkpoint(note.split_note(note_text)[0])
    except note.NoteError:
        return None


# --- a prospective peer's node card ------------------------------------------------------------


@dataclass(frozen=True)
class CardPreview:
    """A node card fetched to pre-fill the add-peer form. Not trusted: it is signed by the
    keys it lists, which proves only that whoever serves it holds them."""

    url: str
    name: str
    origin: str
    base_url: str
    vkeys: tuple[str, ...]


class CardUnavailable(Exception):
    pass


def fetch_card(base_url: str) -> CardPreview:
    """GET `<base_url>/.well-known/qmedchain-node` and check that it is a well-formed card signed
    by the log keys it lists. Raises CardUnavailable with a message a person can act on."""
    import json

    from federation import card, http

    url = base_url.rstrip("/") + "/.well-known/qmedchain-node"
    try:
        resp = http.get(url)
    except http.PeerUnreachable as exc:
        raise CardUnavailable(str(exc)) from None
    if resp.status != 200:
        raise CardUnavailable(f"{url} answered {resp.status}")
    text = resp.body.decode("utf-8", errors="replace")
    try:
        listed = json.loads(note.split_note(text)[0])
        data = card.verify_card(text, listed["log_keys"])
    except (note.NoteError, card.CardError, ValueError, KeyError, TypeError) as exc:
        raise CardUnavailable(f"{url} did not serve a valid node card ({exc})") from None
    return CardPreview(
        url=url,
        name=str(data.get("name", "")),
        origin=str(data["origin"]),
        base_url=str(data.get("base_url", base_url)),
        vkeys=tuple(str(k) for k in [*data.get("log_keys", []), *data.get("witness_keys", [])]),
    )
