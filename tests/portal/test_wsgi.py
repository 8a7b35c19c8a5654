"""portal.wsgi: a bearer-token call to /api/ without a cookie runs through API_MIDDLEWARE, every
other request through MIDDLEWARE; both must answer a third-party system's call the same way,
security headers included."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

from portal import wsgi
from portal.consent_services import consent_grant
from tests.api.conftest import ALL_READ_SCOPES, fetch_token, keep_db_connection, register_client, stored_scan
from tests.api.conftest import wsgi_environ as environ
from tests.factories import PatientFactory

SECURITY = {
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.headers.SecurityHeadersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.request_id.RequestIdMiddleware",
}


def call(handler, env: dict) -> tuple[str, dict, bytes]:
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, dict(headers)

    with keep_db_connection():
        response = handler(env, start_response)
        try:
            body = b"".join(response)
        finally:
            response.close()
    return got["status"], got["headers"], body


def test_the_api_chain_is_the_portals_less_the_browser_parts():
    api, full = settings.API_MIDDLEWARE, settings.MIDDLEWARE
    assert [m for m in full if m in api] == api  # same order, nothing added
    assert SECURITY <= set(api)
    assert not {m for m in api if "session" in m.lower() or "csrf" in m.lower() or "auth" in m.lower()}


@pytest.mark.parametrize(
    ("path", "headers", "api"),
    [
        ("/api/v1/scans", {"authorization": "Bearer x"}, True),
        ("/api/v1/scans", {"authorization": "bearer x"}, True),
        ("/api/v1/scans", {"authorization": "Bearer x", "cookie": "sessionid=abc"}, False),
        ("/api/v1/scans", {}, False),
        ("/api/v1/scans", {"authorization": "Basic eDp5"}, False),
        ("/scans/", {"authorization": "Bearer x"}, False),
        ("/o/token/", {"authorization": "Bearer x"}, False),
    ],
)
def test_only_cookieless_bearer_calls_to_the_api_take_the_short_chain(path, headers, api):
    assert wsgi.is_bearer_api_call(environ(path, **headers)) is api


@pytest.fixture
def reader(db, client):
    patient = PatientFactory()
    client_id, secret, service_user = register_client("Wsgi reader")
    consent_grant(
        patient=patient, grantee_user=service_user, actions=["view", "download"], purposes=["TREAT"]
    )
    scan, _ = stored_scan(patient)
    other, _ = stored_scan(PatientFactory())  # no consent
    token = fetch_token(client, client_id, secret, ALL_READ_SCOPES)
    return token, scan, other


def test_both_chains_answer_a_bearer_call_alike(reader):
    token, scan, other = reader
    bearer = {"authorization": f"Bearer {token}"}
    cases = [
        (f"/api/v1/scans/{scan.id}", bearer, "200"),
        ("/api/v1/scans", bearer, "200"),
        (f"/api/v1/scans/{scan.id}/status", bearer, "200"),
        (f"/api/v1/scans/{scan.id}/diagnosis", bearer, "200"),
        (f"/api/v1/scans/{other.id}", bearer, "404"),  # no consent: existence stays hidden
        (f"/api/v1/scans/{uuid.uuid4()}", bearer, "404"),
        (f"/api/v1/scans/{scan.id}?purpose=NOPE", bearer, "400"),
        (f"/api/v1/scans/{scan.id}", {"authorization": "Bearer not-a-token"}, "401"),
        ("/api/v1/me", bearer, "200"),
        ("/api/v1/ledger/keys", bearer, "200"),
    ]
    for path, headers, status in cases:
        env = environ(path, **headers)
        assert wsgi.is_bearer_api_call(env)
        short = call(wsgi.api_handler, env)
        full = call(wsgi.portal_handler, environ(path, **headers))
        assert short[0].startswith(status) and full[0][:3] == short[0][:3], (path, short[0], full[0])
        assert short[2] == full[2], path
        vary = "Vary"  # the session middleware adds "Cookie" to Vary when it looked for a session
        assert set(short[1]) - {vary} == set(full[1]) - {vary}, path
        for header in (
            "Content-Security-Policy",
            "X-Content-Type-Options",
            "X-Frame-Options",
            "X-Request-ID",
        ):
            assert header in short[1], (path, header)
