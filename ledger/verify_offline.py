"""Verify a ledger export or a receipt with nothing but the file(s) and the public keys.

    python -m ledger.verify_offline EXPORT.json                 # the whole log
    python -m ledger.verify_offline RECEIPT.json                # one receipt, keys from itself
    python -m ledger.verify_offline KEYS_OR_EXPORT.json --receipt RECEIPT.json
    python -m ledger.verify_offline KEYS.json --receipt RECEIPT.json --openings OPENINGS.json

No Django, no database: only ledger.merkle, ledger.note, ledger.canonical and ledger.chain
(standard library + pqcrypto). For an export it checks every entry (canonical payload, leaf
hash, previous-hash chain, Falcon-512 signature by a published key), every checkpoint
(Falcon-512 and ML-DSA-44 signatures by published keys, origin, and the signed root against
the root recomputed from the entries — which makes successive checkpoints consistent).
For a receipt it checks the entry's leaf hash and signature, the checkpoint's signatures
and the inclusion proof of the entry in the checkpoint's tree. An entry of format v2 holds
salted commitments only; the openings (``{field: {"salt", "value"}}``) that an authorised
reader's receipt carries under ``"openings"``, or that --openings names, are checked against
them and the opened values are printed: a wrong salt or value fails (check ``opening``).

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

    v = chain.verify_stream(entry_stream(), cp_stream(), keys, origin)
    return {"kind": "export", "origin": origin, "entries": v.size, "checkpoints": v.checkpoints}


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
    if not note._safe_verify(note.falcon_512, key.public_key, chain.entry_message(leaf), e.signature):
        raise chain.VerificationFailure(i, "signature", "Falcon-512 entry signature does not verify")
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


def run(path: str, receipt: str | None = None, openings: str | None = None) -> dict[str, Any]:
    doc = _load(path)
    opened = _load(openings) if openings is not None else None
    if isinstance(opened, dict) and isinstance(opened.get("openings"), dict):
        opened = opened["openings"]  # a whole receipt given as the openings file
    if receipt is None:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        if fmt == "qmedchain-ledger-receipt/v1":
            out = verify_receipt(doc, openings=opened)
            out["warning"] = "keys were taken from the receipt itself; pin them with PATH --receipt"
            return out
        if opened is not None:
            raise InputError("--openings needs a receipt (the entry they open)")
        return verify_export(doc)
    keys = _keys(doc)
    out = verify_receipt(_load(receipt), keys, openings=opened)
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
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ledger.verify_offline", description=__doc__.split("\n\n")[0])
    ap.add_argument("path", help="an export, a receipt, or (with --receipt) published keys / an export")
    ap.add_argument("--receipt", help="a receipt to verify against the keys in PATH")
    ap.add_argument(
        "--openings",
        help="openings {field: {salt, value}} of a v2 entry's commitments (or a receipt holding them)",
    )
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    try:
        out = run(args.path, args.receipt, args.openings)
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
        if out.get("warning"):
            human += f"\nWARNING: {out['warning']}"
    _emit(args.json, out, human)
    return 0


def _emit(as_json: bool, obj: dict[str, Any], human: str) -> None:
    stream = sys.stdout if obj.get("ok") else sys.stderr
    print(json.dumps(obj, indent=2) if as_json else human, file=stream)


if __name__ == "__main__":
    sys.exit(main())
