"""Recovery benchmark: prints ONE JSON object.

    .venv/bin/python bench/recovery.py [--scans 20] [--workers 2] [--stage-delay 0.4]

How long interrupted scans take to be ``done`` once the workers (or the broker) are back,
and whether copies of a message running at once leave anything behind, on real Celery
prefork workers and PostgreSQL, without beat:

* ``sigkill``: a batch is uploaded, and mid-batch every worker process group is SIGKILLed;
  the workers are started again 2 s later. Recovery of a scan = seconds from the restarted
  workers being ready to the scan being ``done``.
* ``broker_restart``: a batch is uploaded, and mid-batch the broker is killed and started
  again empty (no persistence, as the issue's Redis: every queued and unacknowledged
  message is lost). Recovery = seconds from the broker being back to ``done``.
* ``duplicates``: ``--duplicates`` scans (60) whose message is sent three times back to back,
  so that copies run at the same time on the workers.

``p0`` / ``p50`` / ``p100`` are over the scans the fault caught unfinished (``interrupted``:
claimed by a killed worker or mid-pipeline; ``all_unfinished`` adds those still queued).
Target: every interrupted scan ``done`` within 60 s. Then, over all scans of the run: each
``done`` once, one ``scan.registered`` each, no orphan and no missing blob, the ledger
verifies; and the workers' logs are searched for the Gossip error and Celery's
connection-loss warning.

The broker is a private ``redis-server`` on a free port, started and stopped by this
script (the shared Redis is not touched). DATABASE_URL defaults to a scratch PostgreSQL
database ``qmc_recovery`` (created if missing, migrated), QMC_VAR_DIR to
``var/bench-recovery`` (its blob store is checked for orphans). Each scan waits
``--stage-delay`` seconds at the ``storing`` step (``QMC_TEST_STAGE_DELAY``, with ``QMC_FAULTS=1``:
`imaging.pipeline.faults`), so that a
20-scan batch is still running when the fault comes. Sweep settings are the defaults
(``imaging.pipeline.leases``): heartbeat 2 s, holder timeout 10 s, sweep every 5 s, unclaimed scans
re-dispatched after 15 s with an empty queue. About three minutes with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A private redis-server without persistence (what the issue's broker was)."""

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log, self.proc = port, log, None

    def start(self) -> float:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.log.parent),
            ],
            stdout=open(self.log, "a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ok = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, check=False
            )
            if ok.stdout.strip() == "PONG":
                return time.monotonic()
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _ensure_db(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    base = url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", base, "-qc", f"CREATE DATABASE {name}"], capture_output=True, check=False)


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p0": None, "p50": None, "p100": None}
    return {
        "n": len(values),
        "p0": round(min(values), 2),
        "p50": round(statistics.median(values), 2),
        "p100": round(max(values), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scans", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2, help="worker processes (concurrency 1 each)")
    ap.add_argument("--stage-delay", type=float, default=0.4, help="seconds each scan waits at `storing`")
    ap.add_argument("--timeout", type=float, default=180, help="seconds to wait for a batch")
    ap.add_argument("--duplicates", type=int, default=60, help="scans whose message is sent --copies times")
    ap.add_argument("--copies", type=int, default=3)
    args = ap.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("bench/recovery.py starts a private redis-server; none is installed")

    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/qmc_recovery")
    os.environ.setdefault("QMC_VAR_DIR", str(ROOT / "var" / "bench-recovery"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DEBUG", "0")
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("bench/recovery.py runs on PostgreSQL: set DATABASE_URL to a scratch database")
    var = Path(os.environ["QMC_VAR_DIR"])
    var.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    broker = Broker(port, var / "redis.log")
    broker.start()
    os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{port}/0"
    _ensure_db(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from imaging import services
    from imaging.models import Scan, ScanObject, ScanStatus
    from ledger.models import Entry
    from ledger.verification import verify_database
    from portal.models import User
    from tests.imaging.conftest import png_bytes

    final = [ScanStatus.DONE, ScanStatus.FAILED]
    patient, _ = User.objects.get_or_create(username="recovery-patient", defaults={"role": "patient"})
    # scans an interrupted earlier run left unfinished would be swept into this run's timings
    Scan.objects.exclude(status__in=final).update(status=ScanStatus.FAILED, failure_reason="bench: stale")
    worker_env = {**os.environ, "QMC_FAULTS": "1", "QMC_TEST_STAGE_DELAY": f"storing={args.stage_delay}"}
    workers: list[subprocess.Popen] = []
    logs: list[Path] = []

    def start_workers(tag: str) -> float:
        workers.clear()
        for i in range(args.workers):
            log = var / f"worker-{tag}-{i}.log"
            logs.append(log)
            workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "portal",
                        "worker",
                        "--loglevel=INFO",
                        "--concurrency=1",
                        "--pool=prefork",
                        "-n",
                        f"recovery{i}-{tag}-{os.getpid()}@%h",
                    ],
                    cwd=ROOT,
                    env=worker_env,
                    stdout=open(log, "w"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 120
        for log in logs[-args.workers :]:
            while " ready." not in log.read_text():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker not ready:\n{log.read_text()[-2000:]}")
                time.sleep(0.1)
        return time.monotonic()

    def kill_workers(sig=signal.SIGKILL) -> None:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, sig)
                w.wait(30)

    def upload_batch(n: int) -> list:
        from django.core.files.uploadedfile import SimpleUploadedFile

        ids = []
        for i in range(n):
            f = png_bytes(96, 80, seed=i)
            scan = services.scan_upload(
                uploader=patient, patient=patient, file=SimpleUploadedFile(f"{i}.png", f, "image/png")
            )
            ids.append(scan.pk)
        return ids

    def wait_until(predicate, what: str) -> None:
        deadline = time.monotonic() + args.timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def done_times(ids, since: float) -> dict:
        """{scan id: seconds from `since` to the moment it was first seen done}."""
        seen: dict = {}
        deadline = time.monotonic() + args.timeout
        while len(seen) < len(ids) and time.monotonic() < deadline:
            now = time.monotonic()
            for pk in Scan.objects.filter(pk__in=ids, status__in=final).values_list("pk", flat=True):
                seen.setdefault(pk, now - since)
            time.sleep(0.1)
        return seen

    def caught(ids) -> tuple[list, list]:
        rows = list(Scan.objects.filter(pk__in=ids).values_list("pk", "status", "claimed_by"))
        unfinished = [pk for pk, status, _ in rows if status not in final]
        interrupted = [
            pk for pk, status, holder in rows if status not in final and (holder or status != "queued")
        ]
        return interrupted, unfinished

    def experiment(ids, interrupted, unfinished, back: float) -> dict:
        seen = done_times(unfinished, back)
        statuses = dict(Scan.objects.filter(pk__in=ids).values_list("pk", "status"))
        inter = [seen[pk] for pk in interrupted if pk in seen]
        return {
            "scans": len(ids),
            "interrupted": len(interrupted),
            "unfinished": len(unfinished),
            "not_done_after_timeout": sum(1 for pk in unfinished if pk not in seen),
            "failed": sum(1 for s in statuses.values() if s == ScanStatus.FAILED),
            "recovery_seconds_interrupted": _percentiles(inter),
            "recovery_seconds_all_unfinished": _percentiles([seen[pk] for pk in unfinished if pk in seen]),
            "all_within_60s": len(seen) == len(unfinished) and max(seen.values(), default=0) <= 60,
        }

    results: dict = {}
    all_ids: list = []
    try:
        # --- 1: SIGKILL of every worker mid-batch
        start_workers("a")
        ids = upload_batch(args.scans)
        all_ids += ids
        wait_until(
            lambda: Scan.objects.filter(pk__in=ids, status=ScanStatus.DONE).count() >= args.scans // 4,
            "a quarter of the batch",
        )
        kill_workers()
        interrupted, unfinished = caught(ids)  # nothing moves until the workers are back
        time.sleep(2)
        back = start_workers("b")
        results["sigkill"] = experiment(ids, interrupted, unfinished, back)

        # --- 2: broker killed and started again empty, mid-batch
        ids = upload_batch(args.scans)
        all_ids += ids
        wait_until(
            lambda: Scan.objects.filter(pk__in=ids, status=ScanStatus.DONE).count() >= args.scans // 4,
            "a quarter of the batch",
        )
        broker.kill()  # every message queued or unacknowledged is lost
        time.sleep(1)
        back = broker.start()
        _, unfinished = caught(ids)  # not done when the broker is back
        results["broker_restart"] = experiment(ids, unfinished, unfinished, back)

        # --- 3: every message sent COPIES times back to back (copies run at once)
        if args.duplicates:
            real_enqueue = services._enqueue
            services._enqueue = lambda scan_id: None  # the copies are sent below
            try:
                ids = upload_batch(args.duplicates)
            finally:
                services._enqueue = real_enqueue
            all_ids += ids
            from imaging.tasks import process_scan

            t0 = time.monotonic()
            for pk in ids:
                for _ in range(args.copies):
                    process_scan.apply_async(args=[str(pk)])
            seen = done_times(ids, t0)
            attempts = list(Scan.objects.filter(pk__in=ids).values_list("attempts", flat=True))
            results["duplicates"] = {
                "scans": len(ids),
                "copies_per_message": args.copies,
                "done": Scan.objects.filter(pk__in=ids, status=ScanStatus.DONE).count(),
                "seconds_to_all_done": round(max(seen.values(), default=0), 2),
                "scans_run_more_than_once": sum(1 for a in attempts if a > 1),
            }

        # --- exactly once, over all batches
        deadline = time.monotonic() + 60
        events = list(Scan.objects.filter(pk__in=all_ids).values_list("ledger_event_id", flat=True))
        while (
            Entry.objects.filter(event_id__in=events).count() < len(all_ids) and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        root = Path(settings.QMC_BLOB_DIR)
        files = {p.name for p in root.glob("*/bafkrei*")}
        named = set(ScanObject.objects.values_list("cid", flat=True))
        objects = ScanObject.objects.filter(scan__in=all_ids).values_list("scan_id", "kind")
        per_scan: dict = {}
        for scan_id, kind in objects:
            per_scan.setdefault(scan_id, []).append(kind)
        registered = Entry.objects.filter(event_id__in=events, event_type="scan.registered")
        report = verify_database()
        results["exactly_once"] = {
            "scans": len(all_ids),
            "done": Scan.objects.filter(pk__in=all_ids, status=ScanStatus.DONE).count(),
            "scans_with_three_objects": sum(
                1 for kinds in per_scan.values() if sorted(kinds) == sorted(["original", "preview", "matrix"])
            ),
            "scan_registered_entries": registered.count(),
            "distinct_scan_registered": registered.values("event_id").distinct().count(),
            "orphan_blobs": len(files - named),
            "missing_blobs": len(named - files),
            "ledger_verifies": report["ok"],
            "ledger_entries": report["entries"],
            "attempts_max": max(Scan.objects.filter(pk__in=all_ids).values_list("attempts", flat=True)),
        }
    finally:
        kill_workers(signal.SIGTERM)
        broker.kill()
    text = "\n".join(p.read_text() for p in logs if p.exists())
    results["worker_log"] = {
        "gossip_errors": text.count("Error on restarting Gossip"),
        "cancel_on_connection_loss_warnings": text.count(
            "worker_cancel_long_running_tasks_on_connection_loss"
        ),
        "tracebacks": text.count("Traceback"),
    }
    results["settings"] = {
        "workers": args.workers,
        "scans_per_experiment": args.scans,
        "duplicates": args.duplicates,
        "stage_delay_s": args.stage_delay,
        "beat": False,
        "broker": "private redis-server, no persistence",
        "heartbeat_s": float(os.environ.get("QMC_SCAN_HEARTBEAT_SECONDS", "2")),
        "holder_timeout_s": float(os.environ.get("QMC_SCAN_HOLDER_TIMEOUT", "10")),
        "sweep_s": float(os.environ.get("QMC_SCAN_SWEEP_SECONDS", "5")),
        "redispatch_s": float(os.environ.get("QMC_SCAN_REDISPATCH_SECONDS", "15")),
    }
    results["target"] = "every interrupted scan done within 60 s of the workers / broker being back"
    print(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
