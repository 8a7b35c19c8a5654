"""Helpers for the log-side tests (push, quorum, receipts): this node's ledger with checkpoints,
and witnesses of it — this node's own witness endpoint behind `live_server`, or an
independent `WitnessServer` — registered as peers."""

from __future__ import annotations

import time

from federation import push
from federation.keys import ensure_log_keys, ensure_witness_keys
from federation.models import Peer, PeerKey
from federation.peers import add_peer, witness_verifiers
from ledger import note
from ledger.demo import demo_payload
from ledger.models import Checkpoint
from ledger.selectors import latest_checkpoint, tree_size, verifiers
from ledger.services import append_all, create_checkpoint, origin, record_event

LIVE_WITNESS_NAME = "witness-b.test/witness"


def grow_log(n: int) -> Checkpoint:
    """Append `n` demo events to this node's ledger and sign a checkpoint of the new size."""
    for i in range(n):
        t, p = demo_payload(i)
        record_event(event_type=t, payload=p, enqueue=False)
    append_all()
    cp = create_checkpoint() or latest_checkpoint()  # the append may have signed it already
    assert cp is not None and cp.tree_size == tree_size()
    return cp


def trust_our_log_at_our_witness() -> Peer:
    """The witness behind live_server runs on this database: it witnesses this node's log only
    once that log is one of its peers. `add_peer` refuses a node's own origin (rightly, for an
    operator), so the row is made directly."""
    ensure_log_keys()
    peer, _ = Peer.objects.get_or_create(origin=origin(), defaults={"role": Peer.ROLE_LOG, "name": "our log"})
    for v in verifiers():
        PeerKey.objects.get_or_create(
            peer=peer,
            vkey=v.vkey,
            defaults={"purpose": "log", "name": v.name, "key_id": v.key_id_hex, "algorithm": v.algorithm},
        )
    return peer


def live_witness_peer(url: str) -> Peer:
    """This node's witness endpoint at `url` (live_server), with the keys it cosigns with, as
    a witness peer of this node's log (`settings.FEDERATION_WITNESS_NAME` must be
    LIVE_WITNESS_NAME)."""
    keys = ensure_witness_keys()
    vkeys = [note.vkey(k.name, k.algorithm, bytes(k.public_key)) for k in keys.values()]
    trust_our_log_at_our_witness()
    return add_peer(origin="witness-b.test/ledger", vkeys=vkeys, url=url, role=Peer.ROLE_WITNESS, name="B")


def server_peer(server, origin_: str) -> Peer:
    """A `WitnessServer` as a witness peer of this node's log."""
    return add_peer(origin=origin_, vkeys=[server.vkey], url=server.url, role=Peer.ROLE_WITNESS)


def log_verifiers() -> list[note.Verifier]:
    return verifiers()


def policy_line(name: str, vkey: str) -> str:
    return f"witness {name} {note.parse_vkey(vkey).public_key.hex()}"


class Witness:
    """A witness peer of this node's log with a real cosignature/v1 key (no HTTP: its lines are
    stored as the push stores them, through `push.verify_lines`)."""

    def __init__(self, n: int, url: str = "http://127.0.0.1:9/"):
        self.name = f"w{n}.test/witness"
        self.signer = note.Signer(self.name, note.ALG_COSIG_V1, *note.generate(note.ALG_COSIG_V1))
        self.peer = add_peer(origin=f"w{n}.test/ledger", vkeys=[self.vkey], url=url, role="witness")

    @property
    def vkey(self) -> str:
        return self.signer.verifier().vkey

    def cosign(self, cp) -> None:
        text, _ = note.split_note(cp.note)
        lines = note.signature_lines(text, [self.signer], timestamp=int(time.time()))
        good, rejected = push.verify_lines(cp.note, lines, witness_verifiers(self.peer))
        assert rejected == 0
        for c in good:
            c.checkpoint, c.peer = cp, self.peer
            c.save()
