"""A peer's log for the witness tests: just keys and a Merkle tree (ledger.merkle, ledger.note),
no database. It signs checkpoints, builds add-checkpoint bodies and can fork itself."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ledger import merkle, note, witness_protocol


class PeerLog:
    def __init__(
        self,
        origin: str = "hospital-b.example/ledger",
        algorithms: Sequence[str] = (note.ALG_ED25519, note.ALG_MLDSA),
        leaves: int = 0,
    ):
        self.origin = origin
        self.signers = [note.Signer(origin, alg, *note.generate(alg)) for alg in algorithms]
        self.leaves: list[bytes] = []
        self.grow(leaves)

    @property
    def vkeys(self) -> list[str]:
        return [s.verifier().vkey for s in self.signers]

    @property
    def verifiers(self) -> list[note.Verifier]:
        return [s.verifier() for s in self.signers]

    def grow(self, n: int) -> PeerLog:
        start = len(self.leaves)
        self.leaves += [merkle.leaf_hash(f"{self.origin} entry {start + i}".encode()) for i in range(n)]
        return self

    def fork(self, at: int) -> PeerLog:
        """The same log (same keys) rewritten from leaf `at` on: a lie it can sign."""
        other = PeerLog.__new__(PeerLog)
        other.origin, other.signers = self.origin, self.signers
        other.leaves = self.leaves[:at] + [
            merkle.leaf_hash(f"{self.origin} rewritten {i}".encode()) for i in range(at, len(self.leaves))
        ]
        return other

    @property
    def size(self) -> int:
        return len(self.leaves)

    def root(self, size: int | None = None) -> bytes:
        return merkle.root(self.leaves[: self.size if size is None else size])

    def checkpoint(self, size: int | None = None, *, signers=None, timestamp: int | None = None) -> str:
        size = self.size if size is None else size
        text = note.checkpoint_text(self.origin, size, self.root(size))
        ts = int(time.time()) if timestamp is None else timestamp
        return note.sign_note(text, self.signers if signers is None else signers, timestamp=ts)

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        return merkle.consistency_proof(self.leaves, old, new) if 0 < old < new else []

    def body(self, old: int, size: int | None = None, *, proof=None, checkpoint: str | None = None) -> bytes:
        size = self.size if size is None else size
        proof = self.proof(old, size) if proof is None else proof
        return witness_protocol.format_add_checkpoint(old, proof, checkpoint or self.checkpoint(size))
