"""Where an authorized API read spends its time; prints ONE JSON object.

    .venv/bin/python bench/profile_read.py [--requests 2000] [--path detail|list]

In one process, against the scratch database `bench/api.py` seeds (run that first, or pass
`--db`), it sends N authorized ``GET /api/v1/scans/<id>`` through the whole Django stack
(middleware, DRF, the policy, the recording) with the demo API client's Bearer token, under
cProfile, and reports per request: wall and CPU time, database queries, and the share of the
time spent inside each part of the path (inclusive times, so the parts nest: the policy is
inside the view). No load generator, no other process: the profile of one request's code,
for before/after comparisons; `bench/api.py` is the throughput under load.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (label, function name, file name fragment): inclusive time of each, summed over its calls
PARTS = [
    ("handler_get_response", "get_response", "django/core/handlers/base.py"),
    ("view_inner", "_get_response", "django/core/handlers/base.py"),
    ("drf_dispatch", "dispatch", "rest_framework/views.py"),
    ("authentication", "perform_authentication", "rest_framework/views.py"),
    ("permission_check", "check_permissions", "rest_framework/views.py"),
    ("scan_lookup", "scan_for_detail", "imaging/api_selectors.py"),
    ("authorize_total", "authorize", "portal/access.py"),
    ("policy_decide", "decide", "portal/policy.py"),
    ("record_event", "record_event", "ledger/services.py"),
    ("serializer", "data", "rest_framework/serializers.py"),
    ("render_json", "render", "rest_framework/renderers.py"),
    ("finalize_response", "finalize_response", "rest_framework/views.py"),
    ("db_execute", "_execute", "django/db/backends/utils.py"),
    ("db_commit", "commit", "django/db/backends/base/base.py"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--path", choices=["detail", "list"], default="detail")
    ap.add_argument("--url", help="profile this path instead (e.g. a public one, for the stack's floor)")
    ap.add_argument(
        "--db", default=os.environ.get("API_BENCH_DB", "postgres://postgres@127.0.0.1:5432/qmc_api_bench")
    )
    args = ap.parse_args()
    os.environ.update(
        DATABASE_URL=args.db,
        CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/12"),
        CACHE_URL=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/13"),
        QMC_VAR_DIR=os.environ.get("QMC_VAR_DIR", "var/bench-api"),
        DJANGO_SETTINGS_MODULE="portal.settings",
        QMC_THROTTLE_USER="100000000/min",
        QMC_THROTTLE_ANON="100000000/min",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    import base64

    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from imaging.models import Scan
    from portal.management.commands.seed_demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
    from portal.models import User
    from portal.wsgi import application
    from tests.api.conftest import wsgi_environ

    alice = User.objects.get(username="alice")
    scan = Scan.objects.filter(patient=alice, status="done").order_by("created_at").first()
    if scan is None:
        sys.exit("no seeded scans: run bench/api.py once first")
    client = Client(raise_request_exception=True)
    basic = base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()
    token = client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": "scans:read"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    ).json()["access_token"]
    url = args.url or (f"/api/v1/scans/{scan.id}" if args.path == "detail" else "/api/v1/scans")
    statuses: list[str] = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def get() -> None:
        """One request straight into the WSGI application, as gunicorn calls it."""
        environ = wsgi_environ(url, authorization=f"Bearer {token}")
        response = application(environ, start_response)
        b"".join(response)
        response.close()

    for _ in range(50):  # warm: per-process caches, prepared statements
        get()
    assert statuses[-1].startswith("200"), statuses[-1]
    with CaptureQueriesContext(connection) as ctx:
        get()
    queries = [q["sql"][:120] for q in ctx.captured_queries]
    reset_queries()

    profiler = cProfile.Profile()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    profiler.enable()
    for _ in range(args.requests):
        get()
    profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    # and without the profiler, for the true per-request cost
    wall1, cpu1 = time.perf_counter(), time.process_time()
    for _ in range(args.requests):
        get()
    plain_wall, plain_cpu = time.perf_counter() - wall1, time.process_time() - cpu1

    stats = pstats.Stats(profiler)
    if os.environ.get("QMC_PROFILE_DUMP"):
        profiler.dump_stats(os.environ["QMC_PROFILE_DUMP"])
    total = sum(
        v[3] for k, v in stats.stats.items() if k[2] == "__call__" and "django/core/handlers/wsgi.py" in k[0]
    )
    parts = {}
    for label, func, fragment in PARTS:
        cum = sum(v[3] for k, v in stats.stats.items() if k[2] == func and fragment in k[0])
        parts[label] = round(100 * cum / total, 1) if total else None
    top = sorted(
        (
            (v[2], f"{Path(k[0]).name}:{k[1]}:{k[2]}")
            for k, v in stats.stats.items()
            if "site-packages" not in k[0] and "/lib/python" not in k[0]
        ),
        reverse=True,
    )[:12]
    print(
        json.dumps(
            {
                "path": url.replace(str(scan.id), "<id>"),
                "requests": args.requests,
                "per_request_ms": {
                    "wall": round(1000 * plain_wall / args.requests, 3),
                    "cpu": round(1000 * plain_cpu / args.requests, 3),
                    "wall_under_profiler": round(1000 * wall / args.requests, 3),
                    "cpu_under_profiler": round(1000 * cpu / args.requests, 3),
                },
                "queries_per_request": len(queries),
                "queries": queries,
                "share_of_request_pct_inclusive": parts,
                "own_code_top_self_time": [{"where": w, "self_s": round(s, 3)} for s, w in top],
            }
        )
    )


if __name__ == "__main__":
    main()
