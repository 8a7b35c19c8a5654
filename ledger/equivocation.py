"""Evidence that a log lied: two checkpoints it signed that cannot both be true (no Django).

Three kinds, each checkable offline by anyone holding the log's public keys
(`verify_evidence`), none resting on the word of whoever found it:

* ``same-size`` — two signed checkpoints of one size with different roots.
* ``inconsistent`` — a smaller and a larger signed checkpoint, and a consistency proof
  that *leads to the larger root* but yields a different root for the smaller size.
  Since SHA-256 is collision resistant, the larger tree's prefix really hashes to that
  other root, so the smaller checkpoint was a fork. (A proof that merely fails to verify
  proves nothing: anyone can write a wrong proof.) For a smaller size that is a power of
  two the RFC 9162 proof leaves the prefix root implied, so evidence carries it first:
  ``[prefix root] + proof`` (`evidence_proof_nodes` plans both forms).
* ``rollback`` — the same log key's timestamped signatures (ML-DSA-44, which asserts
  "as of this time, the largest tree") put the smaller tree *later*.

`check_pair` is what a monitor or witness calls on two checkpoints it holds.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger import merkle, note
from ledger.merkle import NodeId
from ledger.note import Checkpoint, NoteError, Verifier

KINDS = ("same-size", "inconsistent", "rollback")


class EvidenceError(ValueError):
    """Evidence that is malformed or does not show what it claims."""


@dataclass(frozen=True)
class Evidence:
    kind: str  # "same-size" | "inconsistent" | "rollback"
    first: str  # signed checkpoint notes; for "inconsistent" the smaller, for "rollback" the earlier
    second: str
    proof: tuple[bytes, ...] = ()


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def evidence_proof_nodes(first: int, second: int) -> list[list[NodeId]]:
    """Node plan of the evidence-form proof between two sizes (`merkle.assemble` it)."""
    plan = merkle.consistency_nodes(first, second)
    if _is_pow2(first) and first < second:
        plan.insert(0, [(first.bit_length() - 1, 0)])
    return plan


def prefix_root(first: int, second: int, second_root: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The root of the size-`first` prefix that an evidence-form proof shows tree
    `second_root` to have, or None if the proof does not lead to `second_root`."""
    if not 0 < first < second or not proof or any(len(p) != merkle.HASH_SIZE for p in proof):
        return None
    path = list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr = merkle.node_hash(c, fr)
            sr = merkle.node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = merkle.node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or sr != second_root:
        return None
    return fr


def _timestamps(signed: str, keys: Sequence[Verifier]) -> dict[Verifier, int]:
    return {v: ts for v, ts in note.verified_signatures(signed, keys) if ts}


def check_pair(
    first_note: str, second_note: str, verifiers: Iterable[Verifier], proof: Sequence[bytes] | None
) -> Evidence | None:
    """Evidence that two signed checkpoints of one log contradict each other, or None.

    Both notes must verify under `verifiers` (else NoteError: unsigned input is no
    evidence) and name the same origin. `proof` is a consistency proof between the two
    sizes (RFC 9162 form, or evidence form for a power-of-two smaller size), in either
    order of the notes. None means no contradiction: the same checkpoint, a verified
    consistency proof, or (with `proof` None) nothing that needs no proof. A proof that
    neither verifies nor shows a fork raises merkle.ProofError: that is a bad proof, not
    a lying log.
    """
    keys = list(verifiers)
    texts = []
    for signed in (first_note, second_note):
        text, _ = note.open_note(signed, keys)
        texts.append(text)
    a, b = (note.parse_checkpoint(t) for t in texts)
    if a.origin != b.origin:
        raise NoteError("the two checkpoints are of different logs")
    if a.size == b.size:
        return Evidence("same-size", first_note, second_note) if a.root != b.root else None
    rollback = _rollback(first_note, a, second_note, b, keys)
    if rollback is not None:
        return rollback
    if proof is None:
        return None
    (small, small_note), (large, large_note) = sorted(
        ((a, first_note), (b, second_note)), key=lambda p: p[0].size
    )
    return _check_proof(small, small_note, large, large_note, tuple(proof))


def _rollback(
    first_note: str, a: Checkpoint, second_note: str, b: Checkpoint, keys: list[Verifier]
) -> Evidence | None:
    ta, tb = _timestamps(first_note, keys), _timestamps(second_note, keys)
    for v in ta.keys() & tb.keys():
        if ta[v] < tb[v] and a.size > b.size:
            return Evidence("rollback", first_note, second_note)
        if tb[v] < ta[v] and b.size > a.size:
            return Evidence("rollback", second_note, first_note)
    return None


def _check_proof(
    small: Checkpoint, small_note: str, large: Checkpoint, large_note: str, proof: tuple[bytes, ...]
) -> Evidence | None:
    try:
        merkle.verify_consistency(small.size, large.size, small.root, large.root, proof)
        return None
    except merkle.ProofError:
        pass
    if small.size == 0:
        return None  # the empty tree is a prefix of every tree
    fr = prefix_root(small.size, large.size, large.root, proof)
    if fr is not None and fr != small.root:
        return Evidence("inconsistent", small_note, large_note, proof)
    raise merkle.ProofError("the proof neither shows the checkpoints consistent nor shows a fork")


# --- JSON ----------------------------------------------------------------------------------------


def evidence_to_json(e: Evidence) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "first": e.first,
        "second": e.second,
        "proof": [base64.b64encode(h).decode() for h in e.proof],
    }


def evidence_from_json(d: Mapping[str, Any]) -> Evidence:
    if not isinstance(d, Mapping) or set(d) != {"kind", "first", "second", "proof"}:
        raise EvidenceError("evidence is an object with exactly kind, first, second and proof")
    kind, first, second, proof = d["kind"], d["first"], d["second"], d["proof"]
    if kind not in KINDS:
        raise EvidenceError(f"unknown evidence kind {kind!r}")
    if not isinstance(first, str) or not isinstance(second, str):
        raise EvidenceError("first and second are signed checkpoint notes (strings)")
    if not isinstance(proof, list) or len(proof) > 64 or not all(isinstance(p, str) for p in proof):
        raise EvidenceError("proof is a list of at most 64 base64 hashes")
    hashes = []
    for p in proof:
        try:
            h = base64.b64decode(p, validate=True)
        except (binascii.Error, ValueError):
            raise EvidenceError("proof hash is not base64") from None
        if len(h) != merkle.HASH_SIZE:
            raise EvidenceError("proof hash is not 32 bytes")
        hashes.append(h)
    return Evidence(kind, first, second, tuple(hashes))


def verify_evidence(d: Mapping[str, Any], verifiers: Iterable[Verifier]) -> Evidence:
    """Check downloaded evidence against the log's keys; EvidenceError unless it holds."""
    e = evidence_from_json(d)
    keys = list(verifiers)
    try:
        a, b = (note.parse_checkpoint(note.open_note(n, keys)[0]) for n in (e.first, e.second))
        if a.origin != b.origin:
            raise EvidenceError("the two checkpoints are of different logs")
        if e.kind == "same-size":
            ok = a.size == b.size and a.root != b.root
        elif e.kind == "rollback":
            found = _rollback(e.first, a, e.second, b, keys)
            ok = found is not None and (found.first, found.second) == (e.first, e.second)
        else:
            ok = 0 < a.size < b.size and _check_proof(a, e.first, b, e.second, e.proof) is not None
    except (NoteError, merkle.ProofError) as exc:
        raise EvidenceError(f"not evidence: {exc}") from None
    if not ok:
        raise EvidenceError(f"the checkpoints do not show {e.kind}")
    return e
