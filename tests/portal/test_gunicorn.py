"""`make run`'s web server: the real gunicorn (gunicorn.conf.py) against the test database."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, WorkerProcess, wait_for
from tests.factories import PASSWORD, PatientFactory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    port = _free_port()
    env = WorkerProcess(tmp_path / "unused.log").env()  # the test database, keys and broker
    env.update(WEB_CONCURRENCY="2", GUNICORN_THREADS="2", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"))
    (tmp_path / "prom").mkdir()
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{Path(log_path).read_text()[-3000:]}")
        try:
            return httpx.get(f"{base}/healthz/live", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(answers, timeout=60, what="gunicorn")
        yield base, proc, log_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def test_gunicorn_serves_probes_logins_static_files_and_metrics(gunicorn):
    base, proc, log_path = gunicorn
    user = PatientFactory()
    with httpx.Client(base_url=base, timeout=10) as http:
        live = http.get("/healthz/live")
        assert live.status_code == 200 and live.json() == {"status": "ok"}
        assert http.get("/healthz/ready").json()["database"] == "ok"

        http.get("/accounts/login/")
        login = http.post(
            "/accounts/login/",
            data={
                "username": user.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": http.cookies["csrftoken"],
            },
        )
        assert login.status_code == 302, login.text[:500]
        home = http.get("/")
        assert home.status_code == 200 and user.username in home.text

        css = http.get("/static/css/site.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")

        # two worker processes, one scrape: the request counts of every worker are merged
        metrics = http.get("/metrics").text
        assert "qmedchain_ledger_pending_events" in metrics
        assert (
            'django_http_requests_total_by_view_transport_method_total{method="GET",transport="http",view="healthz-live"}'
            in metrics
        )
    # no access log: request lines with their query strings stay out of the log
    assert "/healthz/live" not in Path(log_path).read_text()

    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
