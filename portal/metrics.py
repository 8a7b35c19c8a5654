"""GET /metrics: Prometheus text for allowed addresses or a bearer token; 404 to anyone else.

Request counts and latencies by view come from django-prometheus' middleware. Our own gauges
(ledger backlog, checkpoint ages, queue depth, scans by status) are computed at scrape time,
so they need no shared state between gunicorn workers. Under gunicorn the request metrics are
per process: with ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client's multiprocess mode
merges every worker's files (``make run`` sets it; gunicorn.conf.py cleans up dead workers).
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from imaging import metrics_selectors as imaging_metrics
from portal import metrics_selectors
from portal.client_ip import client_ip


class QMedChainCollector:
    """The portal's own gauges, read from the database and the broker on every scrape."""

    def collect(self):
        yield GaugeMetricFamily(
            "qmedchain_ledger_pending_events",
            "Events recorded but not yet signed into the ledger.",
            value=metrics_selectors.pending_events(),
        )
        for name, doc, age in (
            (
                "qmedchain_ledger_checkpoint_age_seconds",
                "Seconds since the newest ledger checkpoint was signed (-1 before the first).",
                metrics_selectors.newest_checkpoint_age(),
            ),
            (
                "qmedchain_ledger_witnessed_checkpoint_age_seconds",
                "Seconds since a checkpoint last reached the witness quorum (-1 before the first).",
                metrics_selectors.newest_witnessed_checkpoint_age(),
            ),
        ):
            yield GaugeMetricFamily(name, doc, value=-1 if age is None else age)
        yield GaugeMetricFamily(
            "qmedchain_queue_depth",
            "Tasks waiting in the default Celery queue (-1 when the broker can't tell).",
            value=metrics_selectors.queue_depth(),
        )
        scans = GaugeMetricFamily("qmedchain_scans", "Scans by pipeline status.", labels=["status"])
        for status, count in sorted(imaging_metrics.scans_by_status().items()):
            scans.add_metric([status], count)
        yield scans


_OURS = CollectorRegistry(auto_describe=False)
_OURS.register(QMedChainCollector())


def _allowed(request) -> bool:
    token = settings.QMC_METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    address = client_ip(request)
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.QMC_METRICS_ALLOWED_IPS)


def _request_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@require_GET
def metrics(request):
    if not _allowed(request):
        raise Http404  # not 403: outsiders are not told that there is anything here
    response = HttpResponse(_request_metrics() + generate_latest(_OURS), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
