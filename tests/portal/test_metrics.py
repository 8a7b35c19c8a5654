"""/metrics: Prometheus text for allowed addresses or the bearer token, 404 to anyone else."""

import uuid

import pytest

from ledger.services import record_event

OUTSIDER = "203.0.113.7"
TOKEN = "s3cret-scrape-token"


@pytest.fixture
def metrics_settings(settings):
    settings.QMC_METRICS_TOKEN = TOKEN
    settings.QMC_METRICS_ALLOWED_IPS = ["127.0.0.1", "::1"]
    settings.QMC_TRUSTED_PROXY_COUNT = 0
    return settings


def _gauge(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the metrics")


@pytest.mark.django_db
def test_outsiders_get_404_even_when_they_claim_to_be_local(client, metrics_settings):
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER).status_code == 404
    spoofed = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert spoofed.status_code == 404
    wrong_token = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer " + TOKEN[:-1])
    assert wrong_token.status_code == 404
    # behind one proxy of ours, the client is the entry our proxy appended, not the one it sent
    metrics_settings.QMC_TRUSTED_PROXY_COUNT = 1
    behind_proxy = client.get(
        "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"127.0.0.1, {OUTSIDER}"
    )
    assert behind_proxy.status_code == 404


@pytest.mark.django_db
def test_no_token_configured_means_no_token_works(client, metrics_settings):
    metrics_settings.QMC_METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db
def test_allowed_address_reads_the_metrics(client, metrics_settings):
    metrics_settings.QMC_METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    metrics_settings.QMC_TRUSTED_PROXY_COUNT = 1
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert response.status_code == 200
    assert "qmedchain_queue_depth" in response.content.decode()


@pytest.mark.django_db
def test_token_reads_the_metrics_and_the_backlog_moves(client, metrics_settings):
    auth = {"REMOTE_ADDR": OUTSIDER, "HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    before = client.get("/metrics", **auth)
    assert before.status_code == 200
    assert before["Content-Type"].startswith("text/plain")
    text = before.content.decode()
    for name in (
        "qmedchain_ledger_pending_events",
        "qmedchain_queue_depth",
        "qmedchain_ledger_checkpoint_age_seconds",
        "qmedchain_ledger_witnessed_checkpoint_age_seconds",
        'qmedchain_scans{status="queued"}',
        "django_http_requests_latency_seconds_by_view_method",
    ):
        assert name in text, name

    record_event(event_type="key.rotated", payload={"new_key_id": "0a0b0c0d"}, enqueue=False)
    after = client.get("/metrics", **auth).content.decode()
    assert (
        _gauge(after, "qmedchain_ledger_pending_events")
        == _gauge(text, "qmedchain_ledger_pending_events") + 1
    )
    # the first scrape was counted by view
    assert 'view="metrics"' in after


@pytest.mark.django_db
def test_queue_depth_counts_the_messages_waiting_on_the_broker(client, metrics_settings):
    from kombu import Connection

    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    if metrics_settings.CELERY_BROKER_URL.startswith(("filesystem", "memory")):
        assert _gauge(client.get("/metrics", **auth).content.decode(), "qmedchain_queue_depth") == -1
        return
    # a queue of its own, so a worker of this test session can't drain it under us
    metrics_settings.CELERY_TASK_DEFAULT_QUEUE = f"metrics-test-{uuid.uuid4().hex}"
    assert _gauge(client.get("/metrics", **auth).content.decode(), "qmedchain_queue_depth") == 0
    url, options = metrics_settings.CELERY_BROKER_URL, metrics_settings.CELERY_BROKER_TRANSPORT_OPTIONS
    with Connection(url, transport_options=options) as conn:
        queue = conn.SimpleQueue(metrics_settings.CELERY_TASK_DEFAULT_QUEUE)
        try:
            queue.put({"n": 1})
            queue.put({"n": 2})
            assert _gauge(client.get("/metrics", **auth).content.decode(), "qmedchain_queue_depth") == 2
        finally:
            queue.clear()
            queue.close()
