"""An unwritable blob store during an upload, over HTTP: the API answers 503 problem+json
with Retry-After and the web form a 503 page that says what happened; nothing is saved.

Inside this (root) test process the permission error is injected where an unprivileged
process meets it, the store's temporary file; tests/imaging/storage/test_localcas.py makes
the folders really read-only for a process without the capabilities that let root ignore
them."""

import errno
import tempfile
from pathlib import Path

import pytest
from django.urls import reverse

from imaging.models import Scan
from tests.imaging.conftest import blob_files, dicom_bytes, upload_file


@pytest.fixture
def unwritable_store(monkeypatch, settings):
    real_mkstemp = tempfile.mkstemp
    store = str(Path(settings.QMC_BLOB_DIR).resolve())

    def mkstemp(*args, **kwargs):
        if str(kwargs.get("dir", "")).startswith(store):
            raise PermissionError(errno.EACCES, "Permission denied", str(kwargs["dir"]))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.smoke
@pytest.mark.django_db
def test_api_upload_to_an_unwritable_store_is_503_problem_with_retry_after(
    doc_client, patient, unwritable_store
):
    before = blob_files()
    resp = doc_client.post(
        "/api/v1/scans", {"patient": str(patient.pk), "file": upload_file(dicom_bytes(), "ct.dcm")}
    )
    assert resp.status_code == 503
    assert resp["Content-Type"].startswith("application/problem+json")
    assert int(resp["Retry-After"]) > 0
    body = resp.json()
    assert body["status"] == 503 and "storage is unavailable" in body["detail"].lower()
    assert "Permission" not in resp.content.decode() and "/" not in body["detail"]  # no path leaks
    assert not Scan.objects.exists() and blob_files() == before


@pytest.mark.smoke
@pytest.mark.django_db
def test_web_upload_to_an_unwritable_store_is_a_friendly_503_page(doc_client, patient, unwritable_store):
    resp = doc_client.post(
        reverse("imaging:upload"), {"patient": str(patient.pk), "file": upload_file(dicom_bytes(), "ct.dcm")}
    )
    assert resp.status_code == 503
    assert int(resp["Retry-After"]) > 0
    html = resp.content.decode()
    assert "Storage is unavailable right now; nothing was saved" in html
    assert "<form" in html  # the form again, to try later
    assert "Permission" not in html and "Traceback" not in html
    assert not Scan.objects.exists()
