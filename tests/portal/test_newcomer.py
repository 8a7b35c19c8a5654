"""The newcomer's first five minutes (issue #25 item 7): demo_totp as the README shows it,
examples/client.py against no server, the offline API docs, quiet logs, the favicon."""

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from tests.factories import ClinicianFactory, PatientFactory, login_verified

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_demo_totp_prints_the_code_and_explains_a_missing_user(capsys):
    from portal.services import demo_totp_device

    doc = ClinicianFactory(username="dr.ada")
    demo_totp_device(doc)
    call_command("demo_totp", "dr.ada")
    assert re.match(r"^\d{6}  \(valid for \d+s\)$", capsys.readouterr().out.strip())
    with pytest.raises(CommandError, match="no confirmed TOTP device in .*seed_demo"):
        call_command("demo_totp", "nobody")


def test_demo_totp_on_an_empty_database_says_what_to_do(tmp_path):
    """A fresh QMC_VAR_DIR (no `make run` yet): one clear line, no traceback."""
    env = {"PATH": "/usr/bin:/bin", "QMC_VAR_DIR": str(tmp_path), "HOME": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, "manage.py", "demo_totp", "dr.ada"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "has no demo users yet" in r.stderr and "make run" in r.stderr


def test_example_client_without_a_server_is_one_line():
    r = subprocess.run(
        [sys.executable, "examples/client.py", "--base-url", "http://127.0.0.1:9"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "cannot reach the portal at http://127.0.0.1:9" in r.stderr


@pytest.mark.django_db
def test_api_docs_are_served_from_this_server(client):
    for name in ("api-docs", "api-redoc"):
        r = client.get(reverse(name))
        html = r.content.decode()
        assert r.status_code == 200
        assert "https://" not in html, f"{name} loads something from another site"
        assert "'unsafe-inline'" not in r["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    redoc = client.get(reverse("api-redoc")).content.decode()
    src = re.search(r'<script src="([^"]+)"', redoc).group(1)
    assert src.startswith("/static/drf_spectacular_sidecar/redoc/")


@pytest.mark.django_db
def test_an_expected_403_is_one_line_without_traceback(client):
    from portal.log_filters import ExpectedRefusals

    logger = logging.getLogger("django.request")
    assert any(isinstance(f, ExpectedRefusals) for f in logger.filters)
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    try:
        login_verified(client, PatientFactory())
        assert client.get(reverse("my-patients")).status_code == 403
    finally:
        logger.removeHandler(handler)
    forbidden = [r for r in records if r.getMessage().startswith("Forbidden")]
    assert forbidden and all(r.exc_info is None for r in forbidden)


@pytest.mark.django_db
def test_pages_name_a_favicon_and_favicon_ico_redirects(client):
    with override_settings(DEBUG=False):
        html = client.get(reverse("login")).content.decode()
    assert 'rel="icon" href="/static/img/favicon.svg"' in html
    r = client.get("/favicon.ico")
    assert r.status_code == 301 and r["Location"] == "/static/img/favicon.svg"
    assert (ROOT / "static/img/favicon.svg").exists()
    assert "ML-KEM-768" not in html  # the footer speaks plain words
