"""Verify a ledger export or a receipt with nothing but the file(s) and the public keys.

    python -m ledger.verify_offline EXPORT.json                 # the whole log
    python -m ledger.verify_offline RECEIPT.json                # one receipt, keys from itself
    python -m ledger.verify_offline KEYS_OR_EXPORT.json --receipt RECEIPT.json
    python -m ledger.verify_offline KEYS.json --receipt RECEIPT.json --openings OPENINGS.json
    python -m ledger.verify_offline KEYS.json --receipt RECEIPT.json --policy POLICY

No Django, no database: only ledger.merkle, ledger.note, ledger.canonical and ledger.chain
(standard library + pqcrypto). For an export it checks every entry (canonical payload, leaf
hash, previous-hash chain, Falcon-512 signature by a published key: the entry's own in the
per-entry form, or in the batch form its batch's over the Merkle root of the batch's
leaves, recomputed from the entries), every checkpoint
(Falcon-512 and ML-DSA-44 signatures by published keys, origin, and the signed root against
the root recomputed from the entries — which makes successive checkpoints consistent).
For a receipt it checks the entry's leaf hash and signature (batch form: the batch's
signature and the entry's inclusion proof against the batch root), the checkpoint's signatures
and the inclusion proof of the entry in the checkpoint's tree. An entry of format v2 holds
salted commitments only; the openings (``{field: {"salt", "value"}}``) that an authorised
reader's receipt carries under ``"openings"``, or that --openings names, are checked against
them and the opened values are printed: a wrong salt or value fails (check ``opening``).

With --policy (a witness policy in the Sigsum policy format, e.g. what
``manage.py federation policy`` prints) it also checks the receipt's ``witnessed`` part: the
witnessed checkpoint's log signature (by a ``log`` key of the policy when it names any), the
witnesses' ``cosignature/v1`` lines against the policy's witness keys, that those witnesses
meet the policy's quorum (check ``witness_quorum``), the entry's inclusion proof in the
witnessed tree, and the consistency proof between the receipt's checkpoint and it.

Trust: keys inside a bundle are only as good as the bundle. Pin them by passing our
published keys (GET /api/v1/ledger/keys saved to a file, or an export you trust) as PATH
with --receipt. Exit status 0 = verified, 1 = verification failed (the message names the
index and the check), 2 = unreadable or malformed input.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Iterator
from typing import Any

from ledger import chain, merkle, note
from ledger.policy import NONE, Policy, PolicyError, parse_policy, satisfied


class InputError(Exception):
    pass


def _load(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None


def _keys(doc: Any) -> list[note.Verifier]:
    raw = doc.get("keys") if isinstance(doc, dict) else doc
    if not isinstance(raw, list):
        raise InputError("no list of public keys found")
    try:
        return [chain.key_from_json(k) for k in raw]
    except ValueError as exc:
        raise InputError(f"public keys: {exc}") from None


def _origin(doc: dict[str, Any]) -> str:
    o = doc.get("origin")
    if not isinstance(o, str) or not o:
        raise InputError("bundle has no origin")
    return o


def verify_export(doc: Any, keys: list[note.Verifier] | None = None) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("format") != "qmedchain-ledger-export/v1":
        raise InputError("not a qmedchain-ledger-export/v1 bundle")
    origin = _origin(doc)
    keys = keys if keys is not None else _keys(doc)
    entries, cps = doc.get("entries"), doc.get("checkpoints")
    if not isinstance(entries, list) or not isinstance(cps, list):
        raise InputError("export lacks entries or checkpoints lists")
    raw_batches = doc.get("batches", [])  # absent in exports from before batch signing
    if not isinstance(raw_batches, list):
        raise InputError("export's batches is not a list")
    try:
        batches = [chain.batch_from_json(b) for b in raw_batches]
    except ValueError as exc:
        raise chain.VerificationFailure(None, "malformed", f"signed batch: {exc}") from None

    def entry_stream() -> Iterator[tuple[chain.EntryRecord, None]]:
        for pos, raw in enumerate(entries):
            try:
                e = chain.entry_from_json(raw)
            except ValueError as exc:
                idx = raw.get("index") if isinstance(raw, dict) else None
                raise chain.VerificationFailure(
                    idx if isinstance(idx, int) else pos, "malformed", f"entry at position {pos}: {exc}"
                ) from None
            yield e, None

    def cp_stream() -> Iterator[str]:
        for pos, c in enumerate(cps):
            if not isinstance(c, dict) or not isinstance(c.get("note"), str):
                raise chain.VerificationFailure(
                    None, "malformed", f"checkpoint at position {pos} has no note"
                )
            yield c["note"]

    v = chain.verify_stream(entry_stream(), cp_stream(), keys, origin, batches)
    return {
        "kind": "export",
        "origin": origin,
        "entries": v.size,
        "checkpoints": v.checkpoints,
        "batches": v.batches,
    }


def verify_receipt(
    doc: Any, keys: list[note.Verifier] | None = None, *, openings: Any = None
) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("format") != "qmedchain-ledger-receipt/v1":
        raise InputError("not a qmedchain-ledger-receipt/v1 bundle")
    origin = _origin(doc)
    keys = keys if keys is not None else _keys(doc)
    try:
        e = chain.entry_from_json(doc.get("entry"))
    except ValueError as exc:
        raise chain.VerificationFailure(None, "malformed", f"receipt entry: {exc}") from None
    i = e.index
    leaf = chain.record_leaf_hash(e)
    if leaf != e.leaf_hash:
        raise chain.VerificationFailure(i, "leaf_hash", "leaf hash does not match the entry's contents")
    fkeys = {k.key_id_hex: k for k in keys if k.algorithm == note.ALG_FALCON}
    key = fkeys.get(e.key_id)
    if key is None:
        raise chain.VerificationFailure(i, "key", f"entry is signed with unpublished key {e.key_id!r}")
    if e.batch is None:
        if not note._safe_verify(note.falcon_512, key.public_key, chain.entry_message(leaf), e.signature):
            raise chain.VerificationFailure(i, "signature", "Falcon-512 entry signature does not verify")
    else:
        _verify_batch(doc, e, leaf, key)
    signed = doc.get("checkpoint")
    if not isinstance(signed, str):
        raise chain.VerificationFailure(i, "malformed", "receipt has no checkpoint note")
    try:
        text, _ = note.open_note(
            signed, [k for k in keys if k.name == origin], require={note.ALG_FALCON, note.ALG_MLDSA}
        )
        cp = note.parse_checkpoint(text)
    except note.NoteError as exc:
        raise chain.VerificationFailure(i, "checkpoint_signature", str(exc)) from None
    if cp.origin != origin:
        raise chain.VerificationFailure(
            i, "checkpoint_origin", f"checkpoint origin {cp.origin!r} is not {origin!r}"
        )
    raw_proof = doc.get("inclusion_proof")
    if not isinstance(raw_proof, list):
        raise chain.VerificationFailure(i, "malformed", "receipt has no inclusion proof list")
    try:
        proof = [base64.b64decode(p, validate=True) for p in raw_proof]
    except (binascii.Error, TypeError, ValueError):
        raise chain.VerificationFailure(i, "inclusion_proof", "inclusion proof is not base64") from None
    try:
        merkle.verify_inclusion(i, cp.size, leaf, proof, cp.root)
    except merkle.ProofError as exc:
        raise chain.VerificationFailure(i, "inclusion_proof", str(exc)) from None
    chain.check_v2_payload(e)
    out = {
        "kind": "receipt",
        "origin": origin,
        "index": i,
        "event_id": e.event_id,
        "event_type": e.event_type,
        "version": e.version,
        "tree_size": cp.size,
        "root_hash": base64.b64encode(cp.root).decode(),
    }
    if openings is None:
        openings = doc.get("openings")
    if openings is not None:
        if e.version != 2:
            raise chain.VerificationFailure(
                i, "opening", "openings given for a v1 entry (it has no commitments)"
            )
        out["opened"] = chain.open_entry(e, openings)
    return out


def _verify_batch(doc: dict[str, Any], e: chain.EntryRecord, leaf: bytes, key: note.Verifier) -> None:
    """A batch-form entry: the receipt's `batch` (first, size, root, key, signature) must be
    the entry's batch, signed by the entry's key, and include the entry's leaf."""
    i = e.index
    raw = doc.get("batch")
    if raw is None:
        raise chain.VerificationFailure(i, "malformed", "the entry is batch-signed; the receipt has no batch")
    try:
        b = chain.batch_from_json(raw)
    except ValueError as exc:
        raise chain.VerificationFailure(i, "malformed", f"receipt batch: {exc}") from None
    if b.first != e.batch or not b.covers(i):
        raise chain.VerificationFailure(i, "batch", f"the receipt's batch {b.first} does not cover entry {i}")
    if b.key_id != e.key_id:
        raise chain.VerificationFailure(i, "key", "the batch is signed with another key than the entry names")
    if e.signature:
        raise chain.VerificationFailure(i, "signature", "an entry of the batch form carries a signature")
    proof = _b64_hashes(raw.get("inclusion_proof"), i, "batch inclusion proof", check="batch_proof")
    try:
        merkle.verify_inclusion(i - b.first, b.size, leaf, proof, b.root_hash)
    except merkle.ProofError as exc:
        raise chain.VerificationFailure(i, "batch_proof", f"inclusion in the signed batch: {exc}") from None
    message = chain.batch_message(b.first, b.size, b.root_hash)
    if not note._safe_verify(note.falcon_512, key.public_key, message, b.signature):
        raise chain.VerificationFailure(i, "signature", "Falcon-512 batch signature does not verify")


def _b64_hashes(raw: Any, i: int, what: str, *, check: str = "witnessed_proof") -> list[bytes]:
    if not isinstance(raw, list):
        raise chain.VerificationFailure(i, "malformed", f"receipt has no {what} list")
    try:
        return [base64.b64decode(p, validate=True) for p in raw]
    except (binascii.Error, TypeError, ValueError):
        raise chain.VerificationFailure(i, check, f"{what} is not base64") from None


def verify_witnessed(
    doc: dict[str, Any], out: dict[str, Any], keys: list[note.Verifier], policy: Policy
) -> dict[str, Any]:
    """Check the receipt's `witnessed` part against `policy` (after `verify_receipt` gave
    `out`); returns what it established. Raises VerificationFailure."""
    i, origin = out["index"], out["origin"]
    w = doc.get("witnessed")
    if w is None:
        raise chain.VerificationFailure(
            i,
            "witness_quorum",
            "the receipt carries no witnessed checkpoint: no quorum of witnesses has cosigned one yet",
        )
    if not isinstance(w, dict) or not isinstance(w.get("checkpoint"), str):
        raise chain.VerificationFailure(i, "malformed", "the receipt's witnessed part has no checkpoint note")
    signed = w["checkpoint"]
    log_keys = [k for k in keys if k.name == origin]
    pinned = {log.public_key for log in policy.logs}
    verifiers = log_keys + [log.verifier(origin) for log in policy.logs]
    try:
        text, signers = note.open_note(signed, verifiers)
        cp = note.parse_checkpoint(text)
    except note.NoteError as exc:
        raise chain.VerificationFailure(i, "witnessed_signature", f"witnessed checkpoint: {exc}") from None
    if pinned and not any(v.algorithm == note.ALG_ED25519 and v.public_key in pinned for v in signers):
        raise chain.VerificationFailure(
            i, "witnessed_signature", "the witnessed checkpoint is not signed by a log key of the policy"
        )
    if cp.origin != origin:
        raise chain.VerificationFailure(
            i, "witnessed_signature", f"witnessed checkpoint origin {cp.origin!r} is not {origin!r}"
        )
    if w.get("tree_size") != cp.size:
        raise chain.VerificationFailure(i, "malformed", "witnessed tree_size differs from its checkpoint's")
    cosigned = note.verified_signatures(signed, policy.verifiers())
    names = sorted(v.name for v, _ in cosigned)
    if policy.quorum != NONE and not satisfied(policy, {v.public_key for v, _ in cosigned}):
        known = len(policy.witnesses)
        raise chain.VerificationFailure(
            i,
            "witness_quorum",
            f"the witness quorum ({policy.quorum!r}) is not met: the checkpoint of size {cp.size} is "
            f"cosigned by {len(names)} of the policy's {known} witnesses ({', '.join(names) or 'none'})",
        )
    leaf = chain.record_leaf_hash(chain.entry_from_json(doc.get("entry")))
    try:
        merkle.verify_inclusion(
            i, cp.size, leaf, _b64_hashes(w.get("inclusion_proof"), i, "inclusion proof"), cp.root
        )
    except merkle.ProofError as exc:
        raise chain.VerificationFailure(
            i, "witnessed_proof", f"inclusion in the witnessed tree: {exc}"
        ) from None
    size, root = out["tree_size"], base64.b64decode(out["root_hash"])
    (first, first_root), (second, second_root) = sorted([(size, root), (cp.size, cp.root)])
    try:
        merkle.verify_consistency(
            first,
            second,
            first_root,
            second_root,
            _b64_hashes(w.get("consistency_proof"), i, "consistency proof"),
        )
    except merkle.ProofError as exc:
        raise chain.VerificationFailure(
            i, "witnessed_proof", f"the receipt's checkpoint and the witnessed one are not consistent: {exc}"
        ) from None
    return {
        "tree_size": cp.size,
        "root_hash": base64.b64encode(cp.root).decode(),
        "cosigned_by": names,
        "quorum": policy.quorum,
    }


def _load_policy(path: str) -> Policy:
    try:
        with open(path, encoding="utf-8") as fh:
            return parse_policy(fh.read())
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except PolicyError as exc:
        raise InputError(f"{path}: {exc}") from None


def run(
    path: str, receipt: str | None = None, openings: str | None = None, policy: str | None = None
) -> dict[str, Any]:
    doc = _load(path)
    opened = _load(openings) if openings is not None else None
    pol = _load_policy(policy) if policy is not None else None
    if isinstance(opened, dict) and isinstance(opened.get("openings"), dict):
        opened = opened["openings"]  # a whole receipt given as the openings file
    if receipt is None:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        if fmt == "qmedchain-ledger-receipt/v1":
            out = verify_receipt(doc, openings=opened)
            if pol is not None:
                out["witnessed"] = verify_witnessed(doc, out, _keys(doc), pol)
            out["warning"] = "keys were taken from the receipt itself; pin them with PATH --receipt"
            return out
        if opened is not None:
            raise InputError("--openings needs a receipt (the entry they open)")
        if pol is not None:
            raise InputError("--policy needs a receipt (its witnessed checkpoint)")
        return verify_export(doc)
    keys = _keys(doc)
    receipt_doc = _load(receipt)
    out = verify_receipt(receipt_doc, keys, openings=opened)
    if isinstance(doc, dict) and doc.get("format") == "qmedchain-ledger-export/v1":
        # the receipt's checkpoint must also describe the same tree as the export
        exp = verify_export(doc, keys)
        entries = doc["entries"][: out["tree_size"]]
        if len(entries) < out["tree_size"]:
            raise chain.VerificationFailure(
                out["index"], "receipt_vs_export", "the export is shorter than the receipt's tree"
            )
        root = merkle.root(chain.entry_from_json(x).leaf_hash for x in entries)
        if base64.b64encode(root).decode() != out["root_hash"]:
            raise chain.VerificationFailure(
                out["index"],
                "receipt_vs_export",
                "the receipt's checkpoint root differs from the export's tree",
            )
        out["export_entries"] = exp["entries"]
    if pol is not None:
        out["witnessed"] = verify_witnessed(receipt_doc, out, keys, pol)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ledger.verify_offline", description=__doc__.split("\n\n")[0])
    ap.add_argument("path", help="an export, a receipt, or (with --receipt) published keys / an export")
    ap.add_argument("--receipt", help="a receipt to verify against the keys in PATH")
    ap.add_argument(
        "--openings",
        help="openings {field: {salt, value}} of a v2 entry's commitments (or a receipt holding them)",
    )
    ap.add_argument(
        "--policy",
        help="a witness policy (Sigsum format): check the receipt's witnessed checkpoint meets its quorum",
    )
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    try:
        out = run(args.path, args.receipt, args.openings, args.policy)
    except InputError as exc:
        _emit(args.json, {"ok": False, "error": str(exc)}, f"ERROR: {exc}")
        return 2
    except chain.VerificationFailure as f:
        _emit(args.json, {"ok": False, "failure": f.as_dict()}, f"FAILED: {f}")
        return 1
    except Exception as exc:  # noqa: BLE001 - a corrupted bundle must never end in a traceback
        _emit(
            args.json,
            {"ok": False, "error": f"malformed input ({type(exc).__name__}: {exc})"},
            f"ERROR: malformed input ({type(exc).__name__}: {exc})",
        )
        return 2
    out["ok"] = True
    if out["kind"] == "export":
        human = (
            f"OK: {out['entries']} entries and {out['checkpoints']} checkpoints verified for {out['origin']}"
        )
    else:
        human = (
            f"OK: entry {out['index']} ({out['event_type']}, event {out['event_id']}) is in the tree of size "
            f"{out['tree_size']} signed by {out['origin']}"
        )
        for field, value in sorted(out.get("opened", {}).items()):
            human += f"\nopened {field} = {json.dumps(value)} (matches its commitment)"
        if "witnessed" in out:
            w = out["witnessed"]
            human += (
                f"\nwitnessed: the checkpoint of size {w['tree_size']} is cosigned by "
                f"{', '.join(w['cosigned_by']) or 'no witness'} (quorum {w['quorum']!r} met)"
            )
        if out.get("warning"):
            human += f"\nWARNING: {out['warning']}"
    _emit(args.json, out, human)
    return 0


def _emit(as_json: bool, obj: dict[str, Any], human: str) -> None:
    stream = sys.stdout if obj.get("ok") else sys.stderr
    print(json.dumps(obj, indent=2) if as_json else human, file=stream)


if __name__ == "__main__":
    sys.exit(main())
