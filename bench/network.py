"""Hospital-network benchmark (issue #21) on PostgreSQL; prints ONE JSON object.

    .venv/bin/python bench/network.py [--rounds 30] [--db postgres://postgres@127.0.0.1:5432/qmc_network_bench]

Each figure is measured next to its raw primitives in the same process:

* ``add_checkpoint``: our witness (`federation.witness.add_checkpoint`, database row lock,
  cosigning included) handling a peer's growing log (Ed25519 + ML-DSA-44 log signatures, a
  consistency proof each time) vs the raw work in it: verifying the note's signatures, verifying
  the consistency proof, signing the two cosignatures.
* ``to_witnessed``: time from a new checkpoint of our log to its `WitnessedCheckpoint` (majority
  quorum), pushing over real HTTP to 2 and to 9 independent witnesses on loopback
  (`tests/federation/witness_server.py`, in this process), vs the raw primitives those witnesses
  and we run: per witness, verifying our 3 log signatures + the proof, cosigning, and our check of
  its cosignature.

* ``cross_node_open`` (issue 22): a clinician of node 2 opening a scan that a patient of node 1
  shares with them (`federation.remote.open_scan`: two signed requests to node 1, whose node API
  decides and records each; the ciphertext checked, the key unwrapped, the receipt verified
  against node 1's witnessed checkpoint, the access recorded at node 2) vs a local open of the
  same scan at node 1 by a clinician of node 1 (`portal.access.authorize` + `read_object` of the
  same preview: the policy decision and its record, the unwrap, the blob read and its SHA-256,
  the decryption). Two real nodes (tests/federation/nodes.py: a web server — Django's runserver —
  and a worker each, PostgreSQL databases `qmc_netbench_node1..2`), each side timed inside that
  node's own process.

Uses its own scratch database (created if missing, migrated, federation and ledger tables emptied).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _ensure_db(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            c.execute(f'CREATE DATABASE "{name}"')


def _p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def _summary(xs: list[float]) -> dict:
    return {"p50_ms": round(_p(xs, 50) * 1e3, 3), "p90_ms": round(_p(xs, 90) * 1e3, 3), "n": len(xs)}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument(
        "--db",
        default=os.environ.get("NETWORK_BENCH_DB", "postgres://postgres@127.0.0.1:5432/qmc_network_bench"),
    )
    args = ap.parse_args()
    _ensure_db(args.db)
    os.environ["DATABASE_URL"] = args.db
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.setdefault("QMC_VAR_DIR", str(ROOT / "var" / "bench-network"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("QMC_WITNESS_PER_MINUTE", "1000000")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        tables = [
            t for t in connection.introspection.table_names() if t.startswith(("federation_", "ledger_"))
        ]
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")

    out = {"rounds": args.rounds}
    out["add_checkpoint"] = bench_add_checkpoint(args.rounds)
    out["to_witnessed"] = {f"{k}_witnesses": bench_to_witnessed(k, max(5, args.rounds // 3)) for k in (2, 9)}
    out["cross_node_open"] = bench_cross_node_open(args.rounds)
    print(json.dumps(out, sort_keys=True))


def bench_add_checkpoint(rounds: int) -> dict:
    from federation import witness
    from federation.keys import ensure_witness_keys, witness_signers
    from federation.peers import add_peer
    from ledger import merkle, note, witness_protocol
    from tests.federation.peer_log import PeerLog

    log = PeerLog(origin="bench-peer.example/ledger", leaves=1000)
    add_peer(origin=log.origin, vkeys=log.vkeys, role="log")
    ensure_witness_keys()
    assert witness.add_checkpoint(log.body(0)).status == 200
    handled, raw = [], []
    signers = witness_signers()
    for _ in range(rounds):
        old = log.size
        log.grow(37)
        body = log.body(old)
        handled.append(_timed(lambda b=body: _check(witness.add_checkpoint(b))))
        req = witness_protocol.parse_add_checkpoint(body)

        def primitives(req=req, old=old) -> None:
            note.verified_signatures(req.checkpoint, log.verifiers)
            merkle.verify_consistency(old, log.size, log.root(old), log.root(), list(req.proof))
            note.signature_lines(req.text, signers, timestamp=int(time.time()))

        raw.append(_timed(primitives))
    h, r = _summary(handled), _summary(raw)
    return {"handled": h, "raw_primitives": r, "ratio_p50": round(h["p50_ms"] / r["p50_ms"], 2)}


def _check(answer) -> None:
    if answer.status != 200:
        raise SystemExit(f"add-checkpoint answered {answer.status}: {answer.body[:200]!r}")


def bench_to_witnessed(k: int, rounds: int) -> dict:
    from federation import push
    from federation.models import Peer, WitnessedCheckpoint
    from ledger import merkle, note
    from ledger.selectors import consistency_proof, latest_checkpoint, verifiers
    from tests.federation.logside import grow_log, server_peer
    from tests.federation.witness_server import WitnessServer

    Peer.objects.filter(role=Peer.ROLE_WITNESS).delete()
    grow_log(10)
    servers = [WitnessServer(f"bench-w{k}-{i}.example/witness", verifiers()) for i in range(k)]
    try:
        for i, s in enumerate(servers):
            server_peer(s, f"bench-w{k}-{i}.example/ledger")
        push.push_all()  # first contact: old 0
        times, raw = [], []
        for _ in range(rounds):
            old = latest_checkpoint().tree_size
            cp = grow_log(25)
            t0 = time.perf_counter()
            push.push_all()
            assert WitnessedCheckpoint.objects.filter(checkpoint=cp).exists(), "quorum not met"
            times.append(time.perf_counter() - t0)
            proof = consistency_proof(old, cp.tree_size)
            old_root = _root_at(old)
            text = note.split_note(cp.note)[0]

            def primitives(cp=cp, proof=proof, old=old, old_root=old_root, text=text) -> None:
                for s in servers:
                    note.verified_signatures(cp.note, verifiers())
                    merkle.verify_consistency(old, cp.tree_size, old_root, bytes(cp.root_hash), proof)
                    line = note.signature_lines(text, [s.signer], timestamp=int(time.time()))
                    note.verified_signatures(note.add_signatures(cp.note, line), [s.signer.verifier()])

            raw.append(_timed(primitives))
    finally:
        for s in servers:
            s.stop()
    t, r = _summary(times), _summary(raw)
    return {
        "checkpoint_to_witnessed": t,
        "raw_primitives": r,
        "ratio_p50": round(t["p50_ms"] / r["p50_ms"], 2),
    }


def _root_at(size: int) -> bytes:
    from ledger.selectors import root_at

    return root_at(size)


# --- cross-node open (issue 22) ------------------------------------------------------------------

LOCAL_OPEN = """
import json, time
from imaging.models import ScanObject
from imaging.pipeline.read import read_object
from portal.access import authorize
from portal.models import User

obj = ScanObject.objects.select_related("scan__patient").get(scan_id="%(scan)s", kind="preview")
reader = User.objects.get(username="dr.ada")  # node 1's own clinician, granted by seed_demo
times = []
for _ in range(%(rounds)d + 2):
    t0 = time.perf_counter()
    assert authorize(actor=reader, action="view", scan=obj.scan).allowed
    png = read_object(obj, reader=reader)
    times.append(time.perf_counter() - t0)
print(json.dumps({"times": times[2:], "bytes": len(png)}))
"""

CROSS_OPEN = """
import json, time, uuid
from federation import remote
from federation.models import Peer
from portal.models import User

peer = Peer.objects.get(origin="%(origin)s")
reader = User.objects.get(username="dr.ada")  # node 2's clinician, granted by the patient at node 1
times = []
for _ in range(%(rounds)d + 2):
    t0 = time.perf_counter()
    opened = remote.open_scan(reader, peer, uuid.UUID("%(scan)s"))
    times.append(time.perf_counter() - t0)
    assert opened.integrity.verified, opened.integrity.reason
print(json.dumps({"times": times[2:], "bytes": len(opened.preview_png), "tries": opened.tries}))
"""


def bench_cross_node_open(rounds: int) -> dict:
    from tests.federation.nodes import cosigners, start_network, wait_until

    os.environ.setdefault("QMC_NODES_DB_PREFIX", "qmc_netbench_node")
    net = start_network(2, ROOT / "var" / "bench-network" / "nodes")
    try:
        a, b = net["node1"], net["node2"]
        a.manage("seed_demo", "--organisation", "Hospital 1")
        b.manage("seed_demo", "--organisation", "Hospital 2")
        share = ["exchange_demo", "share", "--peer", b.origin, "--clinician", "Ada Lovelace", "--wait", "300"]
        shared = json.loads(a.manage(*share, timeout=360).stdout.strip().splitlines()[-1])
        png = next(s for s in shared["scans"] if s["format"] == "png")

        def witnessed() -> bool:
            r = net.get(a, f"/api/v1/ledger/receipts/{png['registration_event_id']}")
            w = r.json().get("witnessed") if r.status_code == 200 else None
            return bool(w) and "node2" in cosigners(w["checkpoint"], net, "node2")

        wait_until(witnessed, timeout=120, what="the scan's registration witnessed by node 2")
        local = _last_json(a.manage("shell", "-c", LOCAL_OPEN % {"scan": png["id"], "rounds": rounds}).stdout)
        cross = _last_json(
            b.manage(
                "shell", "-c", CROSS_OPEN % {"scan": png["id"], "rounds": rounds, "origin": a.origin}
            ).stdout
        )
    finally:
        net.stop()
    lo, cr = _summary(local["times"]), _summary(cross["times"])
    assert local["bytes"] == cross["bytes"], "the two opens decrypted different images"
    return {
        "local_open": lo,
        "cross_node_open": cr,
        "ratio_p50": round(cr["p50_ms"] / lo["p50_ms"], 2),
        "preview_bytes": local["bytes"],
        "requests_per_cross_open": cross["tries"],
    }


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
