"""Hostile request bodies (issue 19, class 6): too deep, too large, too many fields, not UTF-8,
numbers out of range. Every POST/PUT/PATCH endpoint of the API, found from the URL resolver so a
new one is covered without editing this file, and the web forms answer each with a 4xx and a
message a person understands (problem+json on the API), never a 500, and keep serving.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import ClinicianFactory, PatientFactory, login_verified
from tests.url_walk import served

DEPTH = 50_000
FIELDS = 100_000
BOUNDARY = "qmc-boundary-7d1f"


def _too_large() -> bytes:
    from django.conf import settings

    return b'{"a": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024) + b'"}'


def _multipart_fields(n: int) -> bytes:
    part = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"\r\n\r\n1\r\n'.encode()
    return part * n + f"--{BOUNDARY}--\r\n".encode()


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"

# name: (content type, body builder, statuses the refusal may have)
API_ATTACKS = {
    "deep_array": (JSON, lambda: b"[" * DEPTH + b"]" * DEPTH, {400}),
    "deep_object": (JSON, lambda: b'{"a":' * DEPTH + b"1" + b"}" * DEPTH, {400}),
    "number_out_of_range": (
        JSON,
        lambda: b'{"tool": "bb84", "params": {"qubits": 1e999999}, "days": 1e999999}',
        {400},
    ),
    "invalid_utf8": (JSON, lambda: b'{"tool": "\xff\xfe\xc3\x28"}', {400}),
    "too_large": (JSON, _too_large, {413}),
    "too_many_form_fields": (FORM, lambda: b"&".join([b"f=1"] * FIELDS), {400}),
    "too_many_multipart_fields": (MULTIPART, lambda: _multipart_fields(FIELDS), {400}),
}
# a view refusing before it reads the body (unknown id, wrong role, a parser for another type)
# is also an honest 4xx
EARLY_REFUSALS = {403, 404, 415}


def _api_write_endpoints() -> list[tuple[str, str]]:
    """(method, path) of every API URL whose view accepts POST, PUT or PATCH."""

    out = []
    for route, _, pattern in served():
        if not route.startswith("api/"):
            continue
        view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
        path = "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: "1" if m[1] == "int" else str(uuid.uuid4()), route)
        for method in ("post", "put", "patch"):
            if view is not None and hasattr(view, method):
                out.append((method, path))
    return out


@pytest.fixture
def actors(db):
    patient = Client(raise_request_exception=False)
    patient.force_login(PatientFactory())
    clinician = login_verified(Client(raise_request_exception=False), ClinicianFactory())
    return {"patient": patient, "clinician": clinician}


def test_the_endpoint_list_is_found_from_the_resolver():
    endpoints = _api_write_endpoints()
    assert ("post", "/api/v1/consents") in endpoints
    assert ("post", "/api/v1/scans") in endpoints
    assert ("post", "/api/v1/lab/runs") in endpoints


@pytest.mark.smoke
@pytest.mark.parametrize("attack", sorted(API_ATTACKS))
def test_api_refuses_hostile_bodies_with_a_problem(actors, attack):
    content_type, build, expected = API_ATTACKS[attack]
    body = build()
    for who, client in actors.items():
        for method, path in _api_write_endpoints():
            response = getattr(client, method)(path, data=body, content_type=content_type)
            where = f"{who} {method.upper()} {path} ({attack})"
            assert response.status_code in expected | EARLY_REFUSALS, (where, response.status_code)
            assert response["Content-Type"].startswith("application/problem+json"), where
            problem = response.json()
            assert problem["status"] == response.status_code and len(problem["detail"]) > 10, where
            assert client.get("/api/v1/me").status_code == 200, f"not serving after {where}"


def test_deep_json_gets_a_clear_message(actors):
    deep = b"[" * DEPTH + b"]" * DEPTH
    response = actors["patient"].post("/api/v1/consents", data=deep, content_type=JSON)
    assert response.status_code == 400
    assert "nested more than 32 levels" in response.json()["detail"]


def test_json_nested_within_the_limit_still_parses(actors):
    # 30 levels inside "params": parsed, then refused by the serializer, not by the parser
    body = b'{"tool": "bb84", "params": ' + b"[" * 30 + b"]" * 30 + b"}"
    response = actors["clinician"].post("/api/v1/lab/runs", data=body, content_type=JSON)
    assert response.status_code == 400
    assert "JSON parse error" not in response.json()["detail"]


def test_too_large_body_names_the_limit(actors):
    response = actors["patient"].post("/api/v1/consents", data=_too_large(), content_type=JSON)
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


# web forms: (URL, who posts)
WEB_FORMS = [
    (lambda: reverse("login"), None),
    (lambda: reverse("password_reset"), None),
    (lambda: reverse("oauth2_provider:token"), None),
    (lambda: reverse("consents"), "patient"),
    (lambda: reverse("imaging:upload"), "patient"),
    (lambda: reverse("breakglass-start"), "clinician"),
    (lambda: reverse("lab:new", args=["bb84"]), "clinician"),
]
WEB_ATTACKS = {k: API_ATTACKS[k] for k in ("too_many_form_fields", "too_many_multipart_fields", "too_large")}


@pytest.mark.parametrize("attack", sorted(WEB_ATTACKS))
def test_web_forms_refuse_hostile_bodies_with_a_friendly_page(actors, attack):
    content_type, build, expected = WEB_ATTACKS[attack]
    body = build()
    if content_type == JSON:
        content_type = FORM  # a browser form posts form encoding; the size limit is the same
    for url, who in WEB_FORMS:
        client = actors[who] if who else Client(raise_request_exception=False)
        response = client.post(url(), data=body, content_type=content_type)
        where = f"{who or 'anonymous'} POST {url()} ({attack})"
        assert response.status_code in expected, (where, response.status_code)
        if url().startswith("/o/"):
            continue  # the OAuth token endpoint answers machines: no HTML
        page = response.content.decode()
        assert "Request not accepted" in page and ("too many fields" in page or "too large" in page), where
        assert client.get(reverse("password_reset")).status_code == 200, f"not serving after {where}"


def test_invalid_utf8_form_is_not_a_server_error(actors):
    response = actors["patient"].post(
        reverse("consents"), data=b"grantee=\xff\xfe&days=\xc3\x28", content_type=FORM
    )
    assert response.status_code < 500
