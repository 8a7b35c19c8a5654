"""Upload file names (issue 19, class 9): the name the client sent is checked, not the one
Django shortens it to. Multipart bodies are built byte by byte here (a test client or a browser
would clean the name first), posted to the web upload form and to POST /api/v1/scans: a
traversal, a control or bidi character, an over-long name get a 400 that names the problem
without echoing invisible characters, and nothing is stored (no Scan row, no blob).
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from imaging.models import Scan
from tests.api.conftest import png
from tests.factories import PatientFactory

BOUNDARY = "qmc-names-5c2e"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"

# how the part names the file (the bytes after "form-data; name=\"file\"; ")
HOSTILE = {
    "traversal": b'filename="../../etc/passwd.png"',
    "absolute": b'filename="/etc/passwd.png"',
    "windows_traversal": b'filename="..\\\\..\\\\windows\\\\scan.png"',
    "parent_only": b'filename=".."',
    "nul": b'filename="scan\x00.png"',
    "tab": b'filename="scan\t.png"',
    "delete": b'filename="scan\x7f.png"',
    "crlf_rfc2231": b"filename*=UTF-8''scan%0D%0AX-Injected%3A%201.png",
    "bidi_override": b"filename*=UTF-8''invoice%E2%80%AEgnp.exe",
    "newline_entity": b'filename="scan&#10;.png"',
    "too_long": b'filename="' + b"a" * 300 + b'.png"',
    "drive_letter": b'filename="C:scan.png"',
}
INVISIBLE = ["\x00", "\t", "\r", "\n", "\x7f", "\u202e"]


def _body(patient_id, disposition: bytes, content: bytes) -> bytes:
    b = BOUNDARY.encode()
    return (
        b"--"
        + b
        + b'\r\nContent-Disposition: form-data; name="patient"\r\n\r\n'
        + str(patient_id).encode()
        + b"\r\n"
        b"--" + b + b'\r\nContent-Disposition: form-data; name="file"; ' + disposition + b"\r\n"
        b"Content-Type: image/png\r\n\r\n" + content + b"\r\n--" + b + b"--\r\n"
    )


def _blobs() -> set:
    root = settings.QMC_BLOB_DIR
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.fixture
def patient_client(db):
    patient = PatientFactory()
    client = Client(raise_request_exception=False)
    client.force_login(patient)
    return patient, client


URLS = {"api": "/api/v1/scans", "web": "/scans/upload/"}


@pytest.mark.smoke
@pytest.mark.parametrize("where", sorted(URLS))
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_names_are_refused_and_nothing_is_stored(patient_client, where, case):
    patient, client = patient_client
    blobs_before = _blobs()
    response = client.post(
        URLS[where], data=_body(patient.pk, HOSTILE[case], png()), content_type=CONTENT_TYPE
    )
    assert response.status_code == 400, (case, response.status_code, response.content[:300])
    if where == "api":
        assert response["Content-Type"].startswith("application/problem+json")
        message = response.json()["detail"]
    else:
        message = response.content.decode()
    assert "The file name" in message and "is not allowed" in message, message[:500]
    shown = message.split("The file name", 1)[1].split("is not allowed", 1)[0]
    assert not any(c in shown for c in INVISIBLE), repr(shown)
    assert Scan.objects.count() == 0
    assert _blobs() == blobs_before


def test_the_message_says_why(patient_client):
    patient, client = patient_client
    cases = {
        "traversal": "path separator",
        "nul": "control or invisible",
        "bidi_override": "control or invisible",
        "too_long": "longer than 255 bytes",
    }
    for case, why in cases.items():
        response = client.post(
            URLS["api"], data=_body(patient.pk, HOSTILE[case], png()), content_type=CONTENT_TYPE
        )
        assert why in response.json()["detail"], (case, response.json())
    bidi = client.post(
        URLS["api"], data=_body(patient.pk, HOSTILE["bidi_override"], png()), content_type=CONTENT_TYPE
    )
    assert "invoice\\u202egnp.exe" in bidi.json()["detail"]


def test_web_form_refuses_the_name_with_csrf_enforced(db):
    """As a browser sends it: the CSRF middleware reads the body first, and still gets a 400."""
    patient = PatientFactory()
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(patient)
    client.get(reverse("imaging:upload"))
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    body = _body(patient.pk, HOSTILE["traversal"], png()).replace(
        b"--" + BOUNDARY.encode() + b"\r\n",
        b"--"
        + BOUNDARY.encode()
        + b'\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
        + token.encode()
        + b"\r\n--"
        + BOUNDARY.encode()
        + b"\r\n",
        1,
    )
    response = client.post(reverse("imaging:upload"), data=body, content_type=CONTENT_TYPE)
    assert response.status_code == 400
    assert "is not allowed" in response.content.decode()
    assert Scan.objects.count() == 0


@pytest.mark.parametrize("where", sorted(URLS))
def test_a_plain_name_is_still_accepted(patient_client, where):
    patient, client = patient_client
    name = b'filename="chest x-ray 2026-01.png"'
    response = client.post(URLS[where], data=_body(patient.pk, name, png()), content_type=CONTENT_TYPE)
    assert response.status_code in (202, 302), response.content[:300]
    assert Scan.objects.count() == 1
