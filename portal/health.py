"""Health probes as JSON.

GET /healthz/live: the process serves requests (touches no dependency), for a liveness probe.
GET /healthz/ready (and /healthz, its old name): database, broker and storage reachability;
503 with the one that is down, for a readiness probe or a load balancer.
"""

import os
import tempfile

from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    from kombu import Connection

    with Connection(
        settings.CELERY_BROKER_URL, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _check_storage() -> str:
    blob_dir = settings.QMC_BLOB_DIR
    blob_dir.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=blob_dir, prefix=".healthz-")
    os.close(fd)
    os.unlink(path)
    return "ok"


CHECKS = {"database": _check_database, "broker": _check_broker, "storage": _check_storage}


def live(request):
    return JsonResponse({"status": "ok"})


def ready(request):
    report = {}
    healthy = True
    for name, check in CHECKS.items():
        try:
            report[name] = check()
        except Exception as exc:  # any failure means "down"; the type says why, no details leak
            report[name] = f"down ({type(exc).__name__})"
            healthy = False
    report["status"] = "ok" if healthy else "degraded"
    if report["database"] == "ok":
        from portal.models import WorkerHeartbeat

        last = WorkerHeartbeat.objects.order_by("-last_seen").values_list("last_seen", flat=True).first()
        report["worker_last_seen"] = last.isoformat() if last else None
    return JsonResponse(report, status=200 if healthy else 503)


healthz = ready  # the original URL, kept for existing probes and bin/network
