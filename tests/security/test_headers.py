"""Response headers (issue 19, class 8): a Content-Security-Policy without 'unsafe-inline', a
Permissions-Policy, nosniff, a same-origin Referrer-Policy and X-Frame-Options DENY on every
page of every role (every GET URL pattern of the project, found from the URL resolver), in
development as in production; Cache-Control no-store on everything that carries patient data;
and no template with an inline script, event handler or style attribute, which the policy
would block in the browser.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.test import Client

from portal.consent_services import consent_grant
from tests.api.conftest import ALL_READ_SCOPES, fetch_token, register_client, stored_scan
from tests.conftest import ROOT
from tests.factories import AuditorFactory, ClinicianFactory, PatientFactory, login_verified
from tests.url_walk import served

ROLES = ["anonymous", "patient", "clinician", "auditor"]
# the API docs pages: Swagger UI's page template has an inline <style> block and Redoc writes
# its styles into <style> elements (styles only: their script-src stays 'self', tested below)
INLINE_STYLE_ALLOWED = {"/api/v1/docs/", "/api/v1/redoc/"}


def _directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def _get_routes():
    for route, _, pattern in served():
        if route.startswith("admin/") or route.startswith("^"):
            continue  # the admin is one class: its login page is checked below
        view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
        if view is not None and not hasattr(view, "get"):
            continue
        yield route


@pytest.fixture
def world(db):
    alice = PatientFactory()
    doc = ClinicianFactory()
    consent = consent_grant(patient=alice, grantee_user=doc, actions=["view", "download"], purposes=["TREAT"])
    scan, _ = stored_scan(alice, uploader=doc)
    return {"alice": alice, "doc": doc, "scan": scan, "consent": consent}


def _client(role: str, w) -> Client:
    client = Client(raise_request_exception=False)
    if role == "patient":
        client.force_login(w["alice"])
    elif role == "clinician":
        login_verified(client, w["doc"])
    elif role == "auditor":
        login_verified(client, AuditorFactory())
    return client


def _path(route: str, w) -> str:
    values = {
        "scan_id": str(w["scan"].pk),
        "patient_id": str(w["alice"].pk),
        "series": str(w["consent"].series),
        "tool": "bb84",
    }

    def fill(m):
        conv, name = m[1], m[2]
        if name in values:
            return values[name]
        return "1" if conv == "int" else str(uuid.uuid4())

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)


def _check_common(path: str, response) -> list[str]:
    problems = []
    policy = response.get("Content-Security-Policy")
    if not policy:
        return [f"{path}: no Content-Security-Policy"]
    d = _directives(policy)
    for name, want in {
        "default-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "frame-ancestors": "'none'",
        "form-action": "'self'",
    }.items():
        if d.get(name) != [want]:
            problems.append(f"{path}: {name} is {d.get(name)}")
    for name in ("script-src", "style-src"):
        if name not in d:
            problems.append(f"{path}: no {name}")
        elif "'unsafe-inline'" in d[name] and not (name == "style-src" and path in INLINE_STYLE_ALLOWED):
            problems.append(f"{path}: {name} allows 'unsafe-inline'")
        elif "'unsafe-eval'" in d[name] or "*" in d[name]:
            problems.append(f"{path}: {name} is {d[name]}")
    permissions = response.get("Permissions-Policy", "")
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        if feature not in permissions:
            problems.append(f"{path}: Permissions-Policy lacks {feature}")
    if response.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"{path}: no nosniff")
    if response.get("X-Frame-Options") != "DENY":
        problems.append(f"{path}: X-Frame-Options {response.get('X-Frame-Options')}")
    if response.get("Referrer-Policy") != "same-origin":
        problems.append(f"{path}: Referrer-Policy {response.get('Referrer-Policy')}")
    return problems


# machine protocol endpoints of the hospital network: public, signed, cacheable (README "Hospital network")
PUBLIC_PROTOCOL = ("/.well-known/qmedchain-node", "/network/gossip/cosigned", "/network/directory", "/tlog/")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_every_role_carries_the_security_headers(world, role):
    client = _client(role, world)
    routes = list(_get_routes())
    assert len(routes) > 30
    problems = []
    for route in [*routes, "admin/login/", "no/such/page/"]:
        path = _path(route, world)
        response = client.get(path)
        problems += _check_common(path, response)
        if role != "anonymous" and response.status_code == 200 and not path.startswith("/static/"):
            if path.startswith(PUBLIC_PROTOCOL):  # the same for everyone, so a cache may keep it
                if response.content != Client().get(path).content:
                    problems.append(f"{path}: a public protocol answer that depends on who asks")
            elif "no-store" not in response.get("Cache-Control", "") and path != "/healthz":
                problems.append(
                    f"{path}: a signed-in page without no-store ({response.get('Cache-Control')})"
                )
    assert not problems, "\n".join(problems)


@pytest.mark.smoke
def test_patient_data_is_never_stored_by_caches(world):
    scan = world["scan"].pk
    urls = [
        f"/api/v1/scans/{scan}",
        f"/api/v1/scans/{scan}/status",
        f"/api/v1/scans/{scan}/diagnosis",
        f"/api/v1/scans/{scan}/preview",
        f"/api/v1/scans/{scan}/original",
        f"/api/v1/scans?patient={world['alice'].pk}",
        "/api/v1/patients",
        "/api/v1/consents",
        "/api/v1/access-history",
        f"/scans/{scan}/",
        f"/scans/{scan}/status",
        f"/scans/patient/{world['alice'].pk}/",
        "/consents/",
        "/access-history/",
    ]
    client = _client("patient", world)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert "no-store" in response["Cache-Control"], (url, response.get("Cache-Control"))
        _ = response.content  # consume streaming bodies

    # a third party with a bearer token (no session cookie)
    client_id, secret, service_user = register_client("Headers test client")
    consent_grant(
        patient=world["alice"], grantee_user=service_user, actions=["view", "download"], purposes=["TREAT"]
    )
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {fetch_token(Client(), client_id, secret, ALL_READ_SCOPES)}"}
    for url in urls[:6]:
        response = Client().get(url, **bearer)
        assert response.status_code == 200, (url, response.status_code)
        assert "no-store" in response["Cache-Control"], (url, response.get("Cache-Control"))


def test_static_files_keep_their_caching(world):
    client = _client("patient", world)
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_the_api_docs_page_loads_its_script_from_a_url():
    """Swagger UI's start-up script comes from a URL the policy allows, not an inline block."""
    response = Client().get("/api/v1/docs/")
    page = response.content.decode()
    assert response.status_code == 200
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all("src=" in s for s in scripts), scripts
    script_src = _directives(response["Content-Security-Policy"])["script-src"]
    assert "'unsafe-inline'" not in script_src
    start_up = Client().get("/api/v1/docs/?script=")
    assert start_up.status_code == 200 and "SwaggerUIBundle" in start_up.content.decode()


TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
INLINE = {
    "inline event handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "inline <script> (no src, no nonce)": re.compile(r"<script\b(?![^>]*\b(?:src|nonce)\s*=)[^>]*>", re.I),
    "<style> block without nonce": re.compile(r"<style\b(?![^>]*\bnonce\s*=)[^>]*>", re.I),
}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_templates_have_nothing_inline_that_the_policy_blocks(template: Path):
    text = template.read_text()
    found = [f"{what}: {m.group(0)[:80]}" for what, rx in INLINE.items() for m in rx.finditer(text)]
    assert not found, found


def test_the_browsable_api_allows_inline_styles_but_no_inline_script(world):
    """What a browser gets for an API URL (a patient following a ledger receipt link)."""
    client = _client("patient", world)
    response = client.get("/api/v1/me", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    d = _directives(response["Content-Security-Policy"])
    assert "'unsafe-inline'" not in d["script-src"] and d["script-src"] == ["'self'"]
    executable = [
        s
        for s in re.findall(r"<script\b[^>]*>", response.content.decode())
        if "src=" not in s and "application/json" not in s
    ]
    assert not executable, executable
