"""Ledger benchmark on PostgreSQL; prints ONE JSON object.

    .venv/bin/python bench/ledger.py [--big 20000] [--db postgres://postgres@127.0.0.1:5432/qmc_ledger_bench]

Uses its own scratch database (created if missing, ledger tables truncated first). Each
figure is measured next to its raw baseline in the same process:
- appends/s (pending rows signed and appended by append_pending) in the batch form (one
  Falcon-512 signature per batch over its Merkle root, the default) and, as the baseline, in
  the per-entry form (one signature per entry), vs raw falcon_512.sign calls/s;
- full verification (`verify_database`: every signature, chain, stored nodes, checkpoints)
  entries/s vs raw falcon_512.verify calls/s, and its peak traced memory at 2k and at big;
- inclusion / consistency proof latency from the database at 1k and at big entries;
- 4 concurrent appender processes: throughput, gaps and forks.
The big tree is built with the real append path (batch form). `targets` says whether each
target of issue #27 is met (appends >= 2,000/s, proofs p99 <= 5 ms, verification >= 0.7x
the raw verify rate, no gaps or forks).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
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


def rate(fn, seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", type=int, default=20000)
    ap.add_argument(
        "--db",
        default=os.environ.get("LEDGER_BENCH_DB", "postgres://postgres@127.0.0.1:5432/qmc_ledger_bench"),
    )
    args = ap.parse_args()
    _ensure_db(args.db)
    os.environ["DATABASE_URL"] = args.db
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from pqcrypto.sign import falcon_512

    from ledger import canonical, merkle
    from ledger.models import Entry, PendingEvent
    from ledger.selectors import consistency_proof, inclusion_proof
    from ledger.services import append_all, create_checkpoint
    from ledger.verification import verify_database

    call_command("migrate", verbosity=0)
    with connection.cursor() as c:
        c.execute(
            "TRUNCATE ledger_entry, ledger_treenode, ledger_checkpoint, ledger_head, "
            "ledger_pendingevent, ledger_signingkey, ledger_batch, ledger_entryopening CASCADE"
        )
    settings.LEDGER_CHECKPOINT_EVERY = 1000
    out: dict = {"database": "postgresql", "cores": os.cpu_count(), "big_size": args.big}

    pk, sk = falcon_512.generate_keypair()
    msg = os.urandom(58)
    sig = falcon_512.sign(sk, msg)
    raw_sign = rate(lambda: falcon_512.sign(sk, msg), 3.0)
    raw_verify = rate(lambda: falcon_512.verify(pk, msg, sig), 2.0)
    out["raw_falcon_sign_per_s"] = round(raw_sign, 1)
    out["raw_falcon_verify_per_s"] = round(raw_verify, 1)

    payload = canonical.dumps({"scan_id": 1, "actor": "0" * 32, "pixel_sha256": "a" * 64})
    counter = [0]

    def add_pending(n: int) -> None:
        import uuid

        PendingEvent.objects.bulk_create(
            [
                PendingEvent(event_id=uuid.uuid4(), event_type="scan.accessed", payload=payload)
                for _ in range(n)
            ],
            batch_size=1000,
        )
        counter[0] += n

    def grow_to(size: int) -> float:
        """Append up to `size` entries; returns appends/s of append_pending (signing included)."""
        need = size - Entry.objects.count()
        add_pending(need)
        t0 = time.perf_counter()
        append_all(max_batch=500)
        dt = time.perf_counter() - t0
        create_checkpoint()
        return need / dt

    def proof_latency(size: int, samples: int = 400) -> dict:
        rnd = random.Random(size)
        inc, con = [], []
        for _ in range(samples):
            i = rnd.randrange(size)
            t0 = time.perf_counter()
            inclusion_proof(i, size, check_size=False)
            inc.append((time.perf_counter() - t0) * 1000)
            f = rnd.randrange(1, size)
            t0 = time.perf_counter()
            consistency_proof(f, size, check_size=False)
            con.append((time.perf_counter() - t0) * 1000)
        return {
            "inclusion_ms_p50": round(statistics.median(inc), 3),
            "inclusion_ms_p99": round(pct(inc, 99), 3),
            "consistency_ms_p50": round(statistics.median(con), 3),
            "consistency_ms_p99": round(pct(con, 99), 3),
            "stored_nodes_read_max": max(
                len(merkle.unique_nodes(merkle.inclusion_nodes(i, size)))
                for i in range(0, size, max(1, size // 97))
            ),
        }

    def verify_measure(size: int) -> dict:
        t0 = time.perf_counter()
        rep = verify_database()
        dt = time.perf_counter() - t0
        assert rep["ok"] and rep["entries"] == size, rep
        tracemalloc.start()
        rep2 = verify_database()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert rep2["ok"]
        return {
            "entries_per_s": round(size / dt, 1),
            "seconds": round(dt, 3),
            "peak_traced_kib": round(peak / 1024, 1),
        }

    # baseline: the per-entry form (one signature per entry), the first 500 entries
    settings.LEDGER_BATCH_SIGNING = False
    per_entry_rate = grow_to(500)
    settings.LEDGER_BATCH_SIGNING = True
    # the batch form (one signature per append batch of up to 500), the next 1000 entries
    append_rate = grow_to(1500)
    out["append"] = {
        "entries": 1000,
        "appends_per_s": round(append_rate, 1),
        "per_entry_form_appends_per_s": round(per_entry_rate, 1),
        "ratio_vs_per_entry_form": round(append_rate / per_entry_rate, 2),
        "ratio_vs_raw_sign": round(append_rate / raw_sign, 3),
    }
    out["proofs_at_1000"] = proof_latency(1000)
    grow_to(2000)
    v2k = verify_measure(2000)
    t_build = time.perf_counter()
    grow_to(args.big)
    out["build_big_seconds"] = round(time.perf_counter() - t_build, 1)
    out[f"proofs_at_{args.big}"] = proof_latency(args.big)
    vbig = verify_measure(args.big)
    out["verify"] = {
        "at_2000": v2k,
        f"at_{args.big}": vbig,
        "ratio_vs_raw_verify_at_big": round(vbig["entries_per_s"] / raw_verify, 3),
        "peak_memory_ratio_big_vs_2000": round(vbig["peak_traced_kib"] / v2k["peak_traced_kib"], 3),
    }

    # 4 concurrent appender processes on top of the big tree
    before = Entry.objects.count()
    env = dict(os.environ)
    env.update(
        SECRET_KEY=settings.SECRET_KEY,
        QMC_MASTER_KEY=settings.QMC_MASTER_KEY,
        QMC_VAR_DIR=str(settings.VAR_DIR),
    )
    per = 150
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ledger.appender", str(per), "25"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    wall = time.perf_counter() - t0
    ok = all(p.returncode == 0 for p in procs)
    idx = list(
        Entry.objects.filter(index__gte=before - 1)
        .order_by("index")
        .values_list("index", "prev_hash", "leaf_hash")
    )
    gaps = sum(1 for a, b in zip(idx, idx[1:], strict=False) if b[0] != a[0] + 1)
    forks = sum(1 for a, b in zip(idx, idx[1:], strict=False) if bytes(b[1]) != bytes(a[2]))
    added = Entry.objects.count() - before
    out["concurrent_appenders"] = {
        "processes": 4,
        "entries": added,
        "expected": 4 * per,
        "processes_ok": ok,
        "wall_seconds": round(wall, 2),
        "appends_per_s": round(added / wall, 1),
        "gaps": gaps,
        "forks": forks,
        "stderr_tail": "" if ok else results[0][1][-500:],
    }
    final = verify_database()
    out["final_verify_ok"] = final["ok"]
    out["total_entries"] = final["entries"]
    out["batches"] = final.get("batches")
    proofs = out[f"proofs_at_{args.big}"]
    ca = out["concurrent_appenders"]
    out["targets"] = {
        "appends_ge_2000_per_s": out["append"]["appends_per_s"] >= 2000,
        "proofs_p99_le_5ms": max(proofs["inclusion_ms_p99"], proofs["consistency_ms_p99"]) <= 5,
        "verify_ge_0_7x_raw_verify": out["verify"]["ratio_vs_raw_verify_at_big"] >= 0.7,
        "concurrent_gap_and_fork_free": ca["gaps"] == 0
        and ca["forks"] == 0
        and ca["entries"] == ca["expected"],
        "final_verify_ok": final["ok"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
