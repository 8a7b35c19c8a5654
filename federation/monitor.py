"""Monitoring the peers' logs (c2sp.org/tlog-witness's monitors; issue #21 "split-view detection").

Every `FEDERATION_MONITOR_SECONDS` (`federation.monitor_peers`), for each trusted peer:

1. its log's newest checkpoint is fetched (`GET <url>/tlog/checkpoint`), verified with the
   log's trusted keys and kept as a `SeenCheckpoint` (source "fetched");
2. its gossip (`GET <url>/network/gossip/cosigned`: what it cosigned for the logs it
   witnesses) is read, and each validly signed checkpoint of a log this node knows is kept
   too (source "gossip", `federation.gossip`);
3. every checkpoint seen of each log (fetched, gossiped, or pushed to our witness endpoint)
   is checked against the others (`ledger.equivocation`): the same size with another root is
   evidence at once; for two sizes the log is asked for a consistency proof
   (`GET <url>/api/v1/ledger/proof/consistency`), and a proof that leads to the larger root
   but not to the smaller one shows the fork, as do the log's own ML-DSA-44 timestamps when
   it signed a smaller tree later. Evidence goes to `federation.evidence.record_evidence`
   (stored, recorded on our ledger, the peer no longer trusted). A log that gives no proof,
   or a wrong one, cannot be held to it by anyone else: it is logged and asked again.

Checking each new checkpoint against every old one would cost one proof per pair. Instead the
monitor keeps, per log, an *anchor*: the largest checkpoint seen, of which every checkpoint
up to a watermark (row id) is proven a prefix. A new checkpoint is checked against the anchor
only (one proof), and a larger one that proves consistent becomes the anchor: consistency is
transitive, so every checkpoint seen stays a prefix of the anchor. The anchor lives in the
cache; when the cache forgets it, the next run checks every seen checkpoint again.
A peer that cannot be reached is no evidence of anything: the check waits for the next run.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone

from federation import gossip, http
from federation.evidence import record_evidence
from federation.models import Evidence, Peer, SeenCheckpoint
from federation.seen import remember, verified_checkpoint
from ledger import merkle, note

log = logging.getLogger(__name__)

CHECKPOINT_PATH = "/tlog/checkpoint"
CONSISTENCY_PATH = "/api/v1/ledger/proof/consistency"
MAX_PROOF_HASHES = 128
ANCHOR_SECONDS = 30 * 24 * 3600
SETTLE_SECONDS = 5


class ProofUnavailable(Exception):
    """The log did not answer a proof request usably (unreachable, 5xx, 429, garbage)."""


@dataclass
class MonitorReport:
    fetched: list[str] = field(default_factory=list)  # origins whose newest checkpoint was kept
    gossiped: int = 0  # checkpoints kept from the peers' gossip
    checked: int = 0  # checkpoints proven consistent with the log's anchor
    evidence: list[int] = field(default_factory=list)  # Evidence ids found by this run
    errors: dict[str, str] = field(default_factory=dict)  # peer origin -> what failed

    def as_dict(self) -> dict[str, object]:
        return {
            "fetched": self.fetched,
            "gossiped": self.gossiped,
            "checked": self.checked,
            "evidence": self.evidence,
            "errors": self.errors,
        }


def monitored_peers() -> list[Peer]:
    """Trusted peers with a URL: their logs are fetched, their gossip read."""
    return list(Peer.objects.filter(trusted=True).exclude(url="").order_by("id"))


def monitor_peers() -> MonitorReport:
    report = MonitorReport()
    peers = monitored_peers()
    for peer in peers:
        if peer.is_log:
            try:
                fetch_checkpoint(peer)
                report.fetched.append(peer.origin)
            except (http.PeerUnreachable, note.NoteError) as exc:
                report.errors[peer.origin] = str(exc)[:300]
    for peer in peers:
        try:
            report.gossiped += len(gossip.collect(peer))
        except gossip.GossipUnavailable as exc:
            report.errors.setdefault(peer.origin, str(exc)[:300])
    for log_peer in Peer.objects.filter(trusted=True, role__in=(Peer.ROLE_LOG, Peer.ROLE_BOTH)).order_by(
        "id"
    ):
        checked, ev = audit(log_peer)
        report.checked += checked
        if ev is not None:
            report.evidence.append(ev.pk)
    if report.evidence:
        log.warning("federation monitor: evidence of a lie: %s", report.evidence)
    return report


def fetch_checkpoint(peer: Peer) -> SeenCheckpoint:
    """The log's newest checkpoint, verified and kept. PeerUnreachable when the peer does not
    answer 200; NoteError when what it serves is not its signed checkpoint."""
    resp = http.get(peer.url.rstrip("/") + CHECKPOINT_PATH, headers={"Accept": "text/plain"})
    if resp.status != 200:
        raise http.PeerUnreachable(f"{peer.url}{CHECKPOINT_PATH} answered {resp.status}")
    try:
        signed = resp.body.decode("utf-8")
    except UnicodeDecodeError:
        raise note.NoteError("the checkpoint is not UTF-8") from None
    cp = verified_checkpoint(peer, signed)
    return remember(peer, cp, signed, source="fetched")


@dataclass(frozen=True)
class ConsistencyAnswer:
    proof: tuple[bytes, ...]  # RFC 9162 form
    first_root: bytes | None  # the root the log gives for the smaller size

    def evidence_form(self, first: int) -> tuple[bytes, ...]:
        """The proof as `ledger.equivocation` takes it: for a power-of-two smaller size the
        RFC form leaves the prefix root implied, evidence carries it first."""
        if first > 0 and first & (first - 1) == 0 and self.first_root is not None:
            return (self.first_root, *self.proof)
        return self.proof


def _hash(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not a base64 string")
    h = base64.b64decode(value, validate=True)
    if len(h) != 32:
        raise ValueError("not a 32-byte hash")
    return h


def fetch_consistency(peer: Peer, first: int, second: int) -> ConsistencyAnswer | None:
    """The log's consistency proof between two sizes; None when the log answers that it cannot
    prove it (400: e.g. its tree is now smaller than `second`, a checkpoint it signed)."""
    if not peer.url:
        raise ProofUnavailable(f"{peer.origin} has no URL to ask for a proof")
    url = f"{peer.url.rstrip('/')}{CONSISTENCY_PATH}?first={first}&second={second}"
    try:
        resp = http.get(url, headers={"Accept": "application/json"})
    except http.PeerUnreachable as exc:
        raise ProofUnavailable(str(exc)) from None
    if resp.status == 400:
        return None
    if resp.status != 200:
        raise ProofUnavailable(f"the proof request answered {resp.status}")
    try:
        data = json.loads(resp.body)
        hashes = data["proof"]
        if not isinstance(hashes, list) or len(hashes) > MAX_PROOF_HASHES:
            raise ValueError("not a list of hashes")
        proof = tuple(_hash(h) for h in hashes)
        first_root = _hash(data["first_root"]) if data.get("first_root") else None
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ProofUnavailable("the proof answer is not JSON with a list of base64 hashes") from None
    return ConsistencyAnswer(proof, first_root)


# --- comparing what was seen of one log ---------------------------------------------------------


def _anchor_key(peer: Peer) -> str:
    return f"federation:monitor-anchor:{peer.pk}"


def _via(*rows: SeenCheckpoint) -> str:
    return "gossip" if any(r.source == "gossip" for r in rows) else "monitor"


def _evidence(
    peer: Peer, first: SeenCheckpoint, second: SeenCheckpoint, proof: tuple[bytes, ...] | None
) -> Evidence | None:
    """The evidence row, or None when the pair proves nothing offline: an answer of the log
    that neither proves the two consistent nor shows the fork (it cannot be held to it)."""
    try:
        return record_evidence(
            peer=peer, first_note=first.note, second_note=second.note, proof=proof, via=_via(first, second)
        )
    except merkle.ProofError:
        return None


def _consistent(small: SeenCheckpoint, large: SeenCheckpoint, proof: tuple[bytes, ...]) -> bool:
    try:
        merkle.verify_consistency(
            small.tree_size, large.tree_size, bytes(small.root_hash), bytes(large.root_hash), proof
        )
    except merkle.ProofError:
        return False
    return True


def audit(peer: Peer) -> tuple[int, Evidence | None]:
    """Check the checkpoints of `peer`'s log seen since the last run against its anchor;
    returns (how many were proven consistent, the evidence found or None)."""
    key = _anchor_key(peer)
    state = cache.get(key) or {}
    upto, done = int(state.get("upto", 0)), set(state.get("done", ()))
    seen = SeenCheckpoint.objects.filter(peer=peer).defer("note")
    rows = list(seen.filter(pk__gt=upto).order_by("pk"))
    fresh = sorted((r for r in rows if r.pk not in done), key=lambda r: (r.tree_size, r.pk))
    for row in fresh:  # the same size with another root needs no proof, nor the log's answer
        other = seen.filter(tree_size=row.tree_size).exclude(root_hash=row.root_hash).order_by("pk").first()
        if other is not None:
            return 0, _evidence(peer, other, row, None)
    anchor = seen.filter(pk=state["anchor"]).first() if state.get("anchor") else None
    checked = 0
    for row in fresh:
        if anchor is not None and row.tree_size != anchor.tree_size:
            small, large = (row, anchor) if row.tree_size < anchor.tree_size else (anchor, row)
            try:
                answer = fetch_consistency(peer, small.tree_size, large.tree_size)
            except ProofUnavailable as exc:
                log.info("federation monitor: no proof from %s yet: %s", peer.origin, exc)
                break
            if answer is None or not _consistent(small, large, answer.proof):
                ev = _evidence(peer, small, large, answer.evidence_form(small.tree_size) if answer else None)
                if ev is None:  # asked again next run; the log stays trusted until it is proven
                    log.warning(
                        "federation monitor: %s gives no consistency proof between sizes %d and %d",
                        peer.origin,
                        small.tree_size,
                        large.tree_size,
                    )
                return checked, ev
            checked += 1
        if anchor is None or row.tree_size > anchor.tree_size:
            anchor = row
        done.add(row.pk)
    # The watermark passes rows proven against the anchor, in id order, once they are old
    # enough that no row with a smaller id can still be committing (ids are taken at insert).
    settled = timezone.now() - timedelta(seconds=SETTLE_SECONDS)
    for r in rows:
        if r.pk not in done or r.seen_at > settled:
            break
        upto = r.pk
    state = {
        "upto": upto,
        "done": sorted(pk for pk in done if pk > upto),
        "anchor": anchor.pk if anchor else None,
    }
    cache.set(key, state, ANCHOR_SECONDS)
    return checked, None
