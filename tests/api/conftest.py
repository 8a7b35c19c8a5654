"""Fixtures for the API tests: registered OAuth2 clients, tokens from /o/token/, and scans whose
encrypted objects are really in the blob store (so the byte endpoints can decrypt them)."""

from __future__ import annotations

import base64
import hashlib
import io
import sys
from contextlib import contextmanager

import cv2
import numpy as np
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections

from portal.models import User

ALL_READ_SCOPES = "scans:read scans:write consents:read history:read ledger:read"


def register_client(name: str) -> tuple[str, str, User]:
    out = io.StringIO()
    call_command("register_api_client", name, stdout=out)
    fields = dict(line.split("=", 1) for line in out.getvalue().split())
    return fields["client_id"], fields["client_secret"], User.objects.get(pk=fields["service_user"])


def fetch_token(http, client_id: str, secret: str, scope: str) -> str:
    """A client-credentials token from the real token endpoint (`http` is a Django test client)."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = http.post(
        "/o/token/", {"grant_type": "client_credentials", "scope": scope}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def png(h=64, w=64, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    ok, buf = cv2.imencode(".png", rng.integers(0, 255, (h, w), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def stored_scan(patient, *, uploader=None, modality="CT", original: bytes | None = None, diagnosed=True):
    """A finished scan with an original (DICOM bytes) and a preview PNG, encrypted, in the blob
    store, data keys wrapped for the system, the patient and the current readers — as the
    pipeline leaves it. Returns (scan, {kind: plaintext})."""
    from crypto import envelope
    from imaging import blobs
    from imaging.models import Scan, ScanObject
    from portal import keys
    from portal.consent_selectors import readers_for_scan

    original = original if original is not None else b"DICM-test-original-" + bytes(range(256))
    preview = png()
    scan = Scan.objects.create(
        patient=patient,
        uploaded_by=uploader or patient,
        source_format="dicom",
        original_size=len(original),
        original_sha256=hashlib.sha256(original).hexdigest(),
        modality=modality,
        status="done",
        width=64,
        height=64,
        pixel_sha256="ab" * 32,
        preprocess_version="1",
        diagnosis_label="normal" if diagnosed else "",
        diagnosis_probability=0.2 if diagnosed else None,
        model_id="classical",
        model_version="1.0.0",
        model_sha256="cd" * 32,
    )
    store = blobs.store()
    readers = [None, patient, *readers_for_scan(scan)]
    plain = {"original": original, "preview": preview}
    for kind, data in plain.items():
        obj = ScanObject(scan=scan, kind=kind, version=1, plaintext_size=len(data), backend=store.name)
        key = envelope.new_data_key()
        ciphertext = envelope.encrypt(data, key, object_id=str(obj.id), kind=kind, version=1)
        obj.cid = store.put(ciphertext)
        obj.ciphertext_sha256 = hashlib.sha256(ciphertext).hexdigest()
        obj.save()
        for reader in readers:
            keys.wrap_for(object_id=obj.id, patient=patient, data_key=key, reader=reader)
    return scan, plain


@contextmanager
def keep_db_connection():
    """Calls through the WSGI app end with request_finished, whose close_old_connections would
    close the test's connection (and its transaction); Django's test client disconnects it the
    same way around each of its requests."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def wsgi_environ(path: str, **headers: str) -> dict:
    """A GET of `path` (with its query string) as gunicorn hands it to the WSGI application;
    `headers` by their HTTP names, e.g. ``authorization="Bearer ..."``."""
    path, _, query = path.partition("?")
    env = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    env.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return env
