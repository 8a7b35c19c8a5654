"""Debug pages (issue 19, class 7): DEBUG is opt-in, so the development server `make run`
starts shows anonymous visitors friendly error pages, never Django's technical pages with the
URLconf, the settings or a traceback; static files are still served without DEBUG.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.test import Client

from tests.conftest import ROOT
from tests.factories import PatientFactory

TECHNICAL = ["Using the URLconf", "portal.urls", "Traceback", "SECRET_KEY", "settings.py", "DEBUG = True"]


def _env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "QMC_ENV", "DJANGO_SETTINGS_MODULE")}
    env.pop("DATABASE_URL", None)
    env.update(QMC_VAR_DIR=str(tmp_path), CELERY_BROKER_URL="filesystem://", **extra)
    return env


def _settings_debug(env) -> str:
    code = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'portal.settings'); django.setup(); from django.conf import settings; print(settings.DEBUG)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_debug_is_off_unless_asked_for(tmp_path):
    assert _settings_debug(_env(tmp_path)) == "False"
    assert _settings_debug(_env(tmp_path, DEBUG="1")) == "True"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode(errors="replace"), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)


@pytest.fixture
def dev_server(tmp_path):
    """`manage.py runserver` as `make run` starts it, with no DEBUG in its environment."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, "runserver exited"
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.slow
def test_dev_server_shows_no_technical_pages_and_still_serves_static(dev_server):
    status, page, _ = _get(dev_server + "/no/such/page/")
    assert status == 404
    assert "Not found" in page
    for leak in TECHNICAL + ["Resolver404"]:
        assert leak not in page, leak
    status, css, headers = _get(dev_server + "/static/css/site.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css") and "{" in css


def test_a_404_for_an_anonymous_visitor_is_the_friendly_page(db):
    response = Client().get("/api/v2/no-such-thing/")
    page = response.content.decode()
    assert response.status_code == 404 and "Back to the portal" in page
    for leak in TECHNICAL + ["Resolver404"]:
        assert leak not in page, leak


def test_a_server_error_shows_the_friendly_page_without_a_traceback(db, monkeypatch):
    from portal import views

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(views, "render", broken)  # the home page's view now fails
    client = Client(raise_request_exception=False)
    client.force_login(PatientFactory())
    response = client.get("/")
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    for leak in [*TECHNICAL, "secret internal detail", "RuntimeError"]:
        assert leak not in page, leak


@pytest.mark.parametrize("status", [400, 403, 404, 500])
def test_error_templates_render_without_debug(status):
    from django.template.loader import render_to_string

    page = render_to_string(f"{status}.html", {})
    assert "QMedChain" in page
