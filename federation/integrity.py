"""What the clinician's node checks in a scan another hospital sent it (pure, no Django).

* ``check_ciphertext``: the bytes are the object the peer named, by their SHA-256 and CID.
* ``check_receipt``: the peer's ledger receipt (``qmedchain-ledger-receipt/v1``) verifies with
  the log keys this node trusts for that peer (never the keys inside the receipt), carries a
  witnessed checkpoint that meets the quorum and that THIS node cosigned itself, that
  checkpoint is consistent with the newest one this node cosigned for the peer's log
  (``WitnessedLog``), and the facts the receipt opens are those of the scan received.

A failed receipt check is a verdict ("not verified" and why), not an exception: the caller
decides what to show. A ciphertext that is not the named object is refused (an exception).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from imaging.storage.base import InvalidCID, cid_for, validate_cid
from ledger import chain, merkle, note
from ledger.policy import Policy
from ledger.verify_offline import InputError, verify_receipt, verify_witnessed

# above this a CID may name a manifest block rather than the bytes (imaging/storage/kubo.py)
SINGLE_BLOCK_MAX = 1 << 20
# the facts of a `scan.registered` entry that name each object's ciphertext (imaging/pipeline/record.py)
OBJECT_FACTS = {
    "original": ("ciphertext_sha256", "ciphertext_cid"),
    "preview": ("derived_sha256", "derived_cid"),
    "matrix": ("sha256", "cid"),
}


class CiphertextMismatch(Exception):
    """The ciphertext received is not the object the peer named (size, SHA-256 or CID)."""


@dataclass(frozen=True)
class Cosigned:
    """This node's witness state for the peer's log: the newest checkpoint it cosigned, and
    a consistency proof from the receipt's witnessed size to it (when that is smaller)."""

    size: int
    root: bytes
    proof: Sequence[bytes] | None = None


@dataclass(frozen=True)
class Verdict:
    verified: bool
    reason: str  # for people: what was established, or why not
    event_id: str = ""
    event_type: str = ""
    tree_size: int = 0
    witnessed_size: int = 0
    cosigned_by: tuple[str, ...] = ()
    opened: Mapping[str, Any] = field(default_factory=dict)


def check_ciphertext(blob: bytes, *, sha256_hex: str, cid: str, size: int | None = None) -> str:
    """The ciphertext's SHA-256 (hex) when `blob` is the named object, else CiphertextMismatch.
    A CID names the bytes themselves up to one block; a larger object's CID may name the
    manifest that records its SHA-256 instead (then the SHA-256 decides)."""
    if size is not None and len(blob) != size:
        raise CiphertextMismatch(f"the ciphertext has {len(blob)} bytes, not the {size} announced")
    digest = hashlib.sha256(blob).hexdigest()
    if digest != str(sha256_hex).lower():
        raise CiphertextMismatch("the ciphertext does not match its SHA-256")
    try:
        validate_cid(cid)
    except InvalidCID:
        raise CiphertextMismatch("the object's CID is not a CIDv1 raw sha2-256") from None
    if len(blob) <= SINGLE_BLOCK_MAX and cid_for(blob) != cid:
        raise CiphertextMismatch("the ciphertext does not match its CID")
    return digest


def expected_facts(*, scan_id: str, kind: str, sha256_hex: str, cid: str) -> dict[str, str]:
    """{fact: value} that a scan's registration receipt must open for the object received."""
    if kind not in OBJECT_FACTS:
        raise ValueError(f"no registration fact names a {kind!r} object")
    digest, content_id = OBJECT_FACTS[kind]
    return {"scan_id": str(scan_id), digest: sha256_hex, content_id: cid}


def witnessed_size(receipt: object) -> int | None:
    """The tree size the receipt's witnessed part claims (unverified: only to know which
    consistency proof to ask for before `check_receipt`)."""
    w = receipt.get("witnessed") if isinstance(receipt, dict) else None
    size = w.get("tree_size") if isinstance(w, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def _not(reason: str, **kw: Any) -> Verdict:
    return Verdict(False, reason, **kw)


def check_receipt(
    receipt: object,
    *,
    origin: str,
    log_keys: Sequence[note.Verifier],
    policy: Policy,
    own_witness: Sequence[note.Verifier],
    cosigned: Cosigned | None,
    expected: Mapping[str, str],
) -> Verdict:
    """Verdict on a peer's receipt for the scan received. `log_keys`: the peer's log keys
    trusted here; `policy`: the quorum its witnessed checkpoint must meet; `own_witness`:
    this node's cosignature/v1 keys; `cosigned`: what this node cosigned for the log (None:
    nothing yet); `expected`: {fact: value} that the receipt must open, each with that value
    (`expected_facts`)."""
    if not isinstance(receipt, dict):
        return _not("no ledger receipt came with the scan")
    if receipt.get("origin") != origin:
        return _not("the receipt is for another log than this hospital's")
    try:
        out = verify_receipt(receipt, list(log_keys))
    except (chain.VerificationFailure, InputError) as exc:
        return _not(f"the receipt does not verify with the hospital's log keys ({exc})")
    facts = {
        "event_id": str(out["event_id"]),
        "event_type": str(out["event_type"]),
        "tree_size": int(out["tree_size"]),
        "opened": out.get("opened", {}),
    }
    try:
        w = verify_witnessed(receipt, out, list(log_keys), policy)
    except chain.VerificationFailure as exc:
        return _not(f"the receipt's checkpoint is not witnessed: {exc.message}", **facts)
    except (InputError, KeyError, TypeError, ValueError) as exc:
        return _not(f"the receipt's witnessed checkpoint is malformed ({exc})", **facts)
    signed = receipt["witnessed"]["checkpoint"]
    size, root = int(w["tree_size"]), base64.b64decode(w["root_hash"])
    facts.update(witnessed_size=size, cosigned_by=tuple(w["cosigned_by"]))
    if not note.verified_signatures(signed, [v for v in own_witness if v.algorithm == note.ALG_COSIG_V1]):
        return _not("this hospital did not cosign the receipt's witnessed checkpoint itself", **facts)
    problem = _against_cosigned(size, root, cosigned)
    if problem:
        return _not(problem, **facts)
    mismatch = _facts_problem(facts["opened"], expected)
    if mismatch:
        return _not(mismatch, **facts)
    return Verdict(
        True,
        f"entry {out['index']} of {origin} is in a checkpoint of size {size} cosigned by "
        f"{', '.join(w['cosigned_by'])}, consistent with what this hospital witnessed",
        **facts,
    )


def _against_cosigned(size: int, root: bytes, cosigned: Cosigned | None) -> str:
    """Why the witnessed checkpoint (size, root) is not consistent with `cosigned`, or ""."""
    if cosigned is None:
        return "this hospital has not witnessed that log yet"
    if size > cosigned.size:
        return f"this hospital never cosigned a checkpoint of size {size} (its newest is {cosigned.size})"
    if size == cosigned.size:
        return (
            "" if root == cosigned.root else "the witnessed root differs from the one this hospital cosigned"
        )
    if cosigned.proof is None:
        return "no consistency proof to the checkpoint this hospital cosigned"
    try:
        merkle.verify_consistency(size, cosigned.size, root, cosigned.root, list(cosigned.proof))
    except merkle.ProofError as exc:
        return f"the witnessed checkpoint is not consistent with what this hospital cosigned ({exc})"
    return ""


def _facts_problem(opened: Mapping[str, Any], expected: Mapping[str, str]) -> str:
    for name, value in expected.items():
        if name not in opened:
            return f"the receipt does not open the {name.replace('_', ' ')} it must vouch for"
        if str(opened[name]) != str(value):
            return f"the receipt's {name.replace('_', ' ')} differs from the scan received"
    return ""
