"""Driver for the independent C2SP implementation (aics-tlog, aics-witness), run by the
Python >= 3.12 interpreter of var/interop-venv -- never by the project's venv, and it
imports nothing of ours.

One JSON object on stdin, one on stdout. Bytes travel as standard base64 (``b64``) and
hashes as base64 too. ``{"op": ..., ...}``:

verify_checkpoint  note, log_vkey, [witness_vkeys, quorum, origin, max_age]
                   -> aics_tlog.verify_checkpoint's result (ok, log_ok, size, root, witnesses, ...)
verify_cosignature line ("— name base64"), witness_vkey, origin, size, root
                   -> ok, timestamp (aics_tlog.verify_cosignature)
verify_inclusion   leaf, index, size, proof, root -> ok (RFC 9162 2.1.3.2, their transcription)
verify_consistency old_size, new_size, old_root, new_root, proof -> ok (RFC 9162 2.1.4.2)
tiles              url, size, root, [indices, consistency_from, audit]
                   -> read over HTTP with HttpTileReader, every tile authenticated against
                      (size, root) by VerifiedTileReader: the root check, then per index the
                      proven entry and the inclusion proof computed from tiles, per old size
                      the consistency proof computed from tiles, and audit_tiles if asked
feed               witness_url, witness_vkey, origin, log_seed (hex), entries, sizes
                   -> acts as a LOG (aics_tlog.MerkleTree + sign_checkpoint) pushing each
                      size's checkpoint to a tlog-witness with aics_witness.feeder.WitnessClient;
                      per size: the signed note, the returned cosignature line(s), the merged note

An expected failure (a proof that does not verify, a witness that refuses) is a result with
``ok: false``; anything else escapes as ``{"exception": ...}`` with exit status 2.
"""

from __future__ import annotations

import base64
import json
import sys
import traceback
from typing import Any


def _b(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def _s(b: bytes | None) -> str | None:
    return None if b is None else base64.b64encode(b).decode()


def verify_checkpoint(req: dict[str, Any]) -> dict[str, Any]:
    from aics_tlog import parse_note, parse_vkey, verify_checkpoint

    res = verify_checkpoint(
        parse_note(req["note"]),
        parse_vkey(req["log_vkey"]),
        [parse_vkey(v) for v in req.get("witness_vkeys", [])],
        req.get("quorum", 0),
        expected_origin=req.get("origin"),
        max_age_seconds=req.get("max_age"),
    )
    return {
        "ok": res.ok,
        "error": res.error,
        "log_ok": res.log_ok,
        "origin": res.origin,
        "size": res.size,
        "root": _s(res.root),
        "cosignatures": res.cosignature_count,
        "witnesses": res.witnesses,
        "timestamps": res.timestamps,
    }


def verify_cosignature(req: dict[str, Any]) -> dict[str, Any]:
    from aics_tlog import parse_vkey, verify_cosignature
    from aics_tlog.cosign import cosignature_timestamp
    from aics_witness.protocol import parse_signature_lines

    [line] = parse_signature_lines(req["line"])
    key = parse_vkey(req["witness_vkey"])
    if (line.name, line.key_id) != (key.name, key.key_id):
        return {"ok": False, "error": "the line is not from this witness key"}
    ok = verify_cosignature(
        line.signature, key.name, key.public_key, req["origin"], req["size"], _b(req["root"])
    )
    return {"ok": ok, "timestamp": cosignature_timestamp(line.signature)}


def verify_inclusion(req: dict[str, Any]) -> dict[str, Any]:
    from aics_tlog import verify_leaf_inclusion

    proof = [_b(h) for h in req["proof"]]
    return {"ok": verify_leaf_inclusion(_b(req["leaf"]), req["index"], req["size"], proof, _b(req["root"]))}


def verify_consistency(req: dict[str, Any]) -> dict[str, Any]:
    from aics_tlog import verify_consistency

    proof = [_b(h) for h in req["proof"]]
    ok = verify_consistency(req["old_size"], req["new_size"], _b(req["old_root"]), _b(req["new_root"]), proof)
    return {"ok": ok}


def tiles(req: dict[str, Any]) -> dict[str, Any]:
    from aics_tlog import (
        HttpTileReader,
        TileMissingError,
        TileVerificationError,
        VerifiedTileReader,
        audit_tiles,
        consistency_proof_from_tiles,
        inclusion_proof_from_tiles,
    )

    size, root = req["size"], _b(req["root"])
    reader = HttpTileReader([req["url"]], timeout=10.0, proxies={})
    vr = VerifiedTileReader(reader, size, root)
    out: dict[str, Any] = {"ok": True}
    try:
        vr.check_root()
        out["entries"] = {str(i): _s(vr.entry(i)) for i in req.get("indices", [])}
        out["inclusion"] = {
            str(i): [_s(h) for h in inclusion_proof_from_tiles(vr, i, size)] for i in req.get("indices", [])
        }
        out["consistency"] = {
            str(m): [_s(h) for h in consistency_proof_from_tiles(vr, m, size)]
            for m in req.get("consistency_from", [])
        }
        if req.get("audit"):
            report = audit_tiles(reader, size, root)
            out["audit"] = {"tiles": report.tiles, "bundles": report.bundles}
    except (TileMissingError, TileVerificationError) as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    return out


def feed(req: dict[str, Any]) -> dict[str, Any]:
    from aics_tlog import Checkpoint, MerkleTree, sign_checkpoint
    from aics_witness.feeder import FeederError, WitnessClient, merge_cosignatures
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(req["log_seed"]))
    origin = req["origin"]
    tree = MerkleTree(_b(e) for e in req["entries"])
    steps = []
    with WitnessClient(req["witness_url"], req["witness_vkey"], max_attempts=2) as client:
        for size in req["sizes"]:
            note = sign_checkpoint(Checkpoint(origin, size, tree.root(size)), key, origin).to_bytes()
            step: dict[str, Any] = {"size": size, "note": note.decode()}
            try:
                lines = client.submit(note, tree.consistency_proof)
            except FeederError as e:
                step.update(ok=False, error=f"{type(e).__name__}: {e}", status=getattr(e, "status", None))
            else:
                step.update(ok=True, lines=lines, cosigned=merge_cosignatures(note, lines).decode())
            steps.append(step)
    return {"ok": all(s["ok"] for s in steps), "steps": steps}


OPS = {
    "verify_checkpoint": verify_checkpoint,
    "verify_cosignature": verify_cosignature,
    "verify_inclusion": verify_inclusion,
    "verify_consistency": verify_consistency,
    "tiles": tiles,
    "feed": feed,
}


def main() -> int:
    try:
        req = json.load(sys.stdin)
        out = OPS[req["op"]](req)
    except Exception as e:  # noqa: BLE001 - reported to the harness, which raises
        json.dump({"exception": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}, sys.stdout)
        return 2
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
