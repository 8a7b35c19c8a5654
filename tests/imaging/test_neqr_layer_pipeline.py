"""The optional SIMULATED NEQR layer in the product: upload option (web form and API), the API
representation, the scan page's labelled box and cipher-image URL, and the whole pipeline on
the REAL worker (layer applied before AES-256-GCM, removed again by read_object)."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from imaging import neqr_layer
from imaging.models import Scan, ScanObject
from imaging.pipeline import decrypt_object, read_object
from tests.api.conftest import stored_scan
from tests.factories import ClinicianFactory, login_verified
from tests.imaging.conftest import png_bytes, upload_file

API = "/api/v1/scans"
LABEL = "Add the simulated NEQR quantum-image-cipher layer to derived images"


def decode_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.dtype == np.uint8 and img.ndim == 2
    return img


def api_upload(client, patient, data, **extra):
    resp = client.post(API, {"patient": str(patient.pk), "file": upload_file(data, "x.png"), **extra})
    assert resp.status_code == 202, resp.content
    return resp.json()


def layered_stored_scan(patient, uploader):
    """A finished scan whose preview is stored with the layer (as the pipeline leaves it)."""
    from crypto import envelope
    from imaging import blobs
    from portal.keys import unwrap_for

    scan, plain = stored_scan(patient, uploader=uploader)
    scan.neqr_layer = True
    scan.save(update_fields=["neqr_layer"])
    obj = ScanObject.objects.get(scan=scan, kind="preview")
    key = unwrap_for(object_id=obj.id, reader=None)
    layered = neqr_layer.apply("preview", plain["preview"], key, object_id=str(obj.id))
    ciphertext = envelope.encrypt(layered, key, object_id=str(obj.id), kind="preview", version=1)
    obj.cid = blobs.store().put(ciphertext)
    obj.ciphertext_sha256 = hashlib.sha256(ciphertext).hexdigest()
    obj.save(update_fields=["cid", "ciphertext_sha256"])
    return scan, plain, layered


# ---------------------------------------------------------------- upload option


@pytest.mark.django_db
def test_api_upload_with_neqr_layer_flags_the_scan(doc_client, patient):
    body = api_upload(doc_client, patient, png_bytes(64, 64), neqr_layer="true")
    scan = Scan.objects.get(pk=body["id"])
    assert scan.neqr_layer is True
    assert body["neqr_layer"]["applied"] is True and body["neqr_layer"]["simulated"] is True
    assert "AES-256-GCM provides confidentiality" in body["neqr_layer"]["note"]
    status = doc_client.get(body["status_url"]).json()
    assert status["neqr_layer"]["applied"] is True
    detail = doc_client.get(f"{API}/{scan.id}").json()
    assert detail["neqr_layer"] == body["neqr_layer"]


@pytest.mark.django_db
@pytest.mark.parametrize("extra", [{}, {"neqr_layer": "false"}])
def test_api_upload_is_without_the_layer_by_default(doc_client, patient, extra):
    body = api_upload(doc_client, patient, png_bytes(64, 64), **extra)
    assert Scan.objects.get(pk=body["id"]).neqr_layer is False
    assert body["neqr_layer"]["applied"] is False and body["neqr_layer"]["simulated"] is True


@pytest.mark.django_db
def test_api_upload_refuses_a_non_boolean(doc_client, patient):
    resp = doc_client.post(
        API,
        {"patient": str(patient.pk), "file": upload_file(png_bytes(64, 64), "x.png"), "neqr_layer": "maybe"},
    )
    assert resp.status_code == 400 and "neqr_layer" in resp.json()["detail"]
    assert not Scan.objects.exists()


@pytest.mark.django_db
def test_form_offers_the_labelled_option_unticked(doc_client):
    html = doc_client.get(reverse("imaging:upload")).content.decode()
    assert LABEL in html and "AES-256-GCM still protects everything" in html
    assert 'name="neqr_layer"' in html and 'name="neqr_layer" checked' not in html


@pytest.mark.django_db
@pytest.mark.parametrize("ticked", [True, False])
def test_form_upload_with_the_checkbox(doc_client, patient, ticked):
    data = {"patient": str(patient.pk), "file": upload_file(png_bytes(64, 64), "x.png", "image/png")}
    if ticked:
        data["neqr_layer"] = "on"
    resp = doc_client.post(reverse("imaging:upload"), data)
    assert resp.status_code == 302, resp.content.decode()[:500]
    scan = Scan.objects.get()
    assert scan.neqr_layer is ticked
    html = doc_client.get(reverse("imaging:scan", args=[scan.id])).content.decode()
    assert ("Simulated NEQR layer" in html) is ticked
    if ticked:  # still queued: labelled box, explanation, no image yet
        assert 'id="neqr-layer-explain"' in html and "AES-256-GCM is the real protection" in html
        assert 'id="neqr-cipher"' not in html


# ---------------------------------------------------------------- cipher image URL (no worker)


@pytest.mark.django_db
def test_cipher_image_for_a_consented_reader_only(doc_client, patient, clinician):
    scan, _, layered = layered_stored_scan(patient, clinician)
    url = reverse("imaging:neqr-cipher", args=[scan.id])
    resp = doc_client.get(url)
    assert resp.status_code == 200 and resp["Content-Type"] == "image/png"
    assert resp["X-Content-Type-Options"] == "nosniff" and "no-store" in resp["Cache-Control"]
    assert resp.content == neqr_layer.cipher_image_png(layered)
    assert decode_png(resp.content).shape == (64, 64)
    page = doc_client.get(reverse("imaging:scan", args=[scan.id])).content.decode()
    assert f'src="{url}"' in page and "Simulated NEQR layer" in page
    # the layer is removed for every other path (once imaging.pipeline.read_object opens it)
    preview = doc_client.get(f"{API}/{scan.id}/preview")
    assert preview.status_code == 200 and decode_png(preview.content).shape == (64, 64)

    stranger = login_verified(Client(), ClinicianFactory())
    assert stranger.get(url).status_code in (403, 404)
    assert Client().get(url).status_code == 302  # anonymous: to the login page


@pytest.mark.django_db
def test_no_cipher_image_for_a_scan_without_the_layer(doc_client, patient, clinician):
    scan, _ = stored_scan(patient, uploader=clinician)
    assert doc_client.get(reverse("imaging:neqr-cipher", args=[scan.id])).status_code == 404
    assert (
        "Simulated NEQR layer" not in doc_client.get(reverse("imaging:scan", args=[scan.id])).content.decode()
    )


@pytest.mark.django_db
def test_cipher_image_of_a_flagged_scan_whose_preview_is_plain_is_404(doc_client, patient, clinician):
    scan, _ = stored_scan(patient, uploader=clinician)
    Scan.objects.filter(pk=scan.pk).update(neqr_layer=True)
    assert doc_client.get(reverse("imaging:neqr-cipher", args=[scan.id])).status_code == 404


# ---------------------------------------------------------------- the real pipeline


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drained")
def test_neqr_layer_through_the_real_worker(celery_worker, doc_client, patient):
    from tests.imaging.test_pipeline import wait_done

    data = png_bytes(1024, 1024, seed=11)
    layered_id = api_upload(doc_client, patient, data, neqr_layer="true")["id"]
    direct_id = api_upload(doc_client, patient, data)["id"]
    scan, direct = wait_done(layered_id, timeout=180), wait_done(direct_id, timeout=180)
    assert scan.neqr_layer and not direct.neqr_layer
    objs = {o.kind: o for o in ScanObject.objects.filter(scan=scan)}
    plain = {o.kind: o for o in ScanObject.objects.filter(scan=direct)}

    # stored: AES-256-GCM around the layered bytes; the original is never layered
    stored = {kind: decrypt_object(objs[kind], reader=None) for kind in ("preview", "matrix", "original")}
    assert neqr_layer.is_layered(stored["preview"]) and neqr_layer.is_layered(stored["matrix"])
    assert stored["original"] == data
    d_prev, d_mat = neqr_layer.describe(stored["preview"]), neqr_layer.describe(stored["matrix"])
    assert d_prev["side"] == 512 and d_prev["image"] == [512, 512] and d_prev["source"] == [1024, 1024]
    assert d_mat["side"] == 256 and d_mat["original_size"] == 65536 and d_mat["simulated"] is True
    assert not neqr_layer.is_layered(decrypt_object(plain["preview"], reader=None))

    # read_object removes the layer: the canonical matrix bytes and a PNG
    matrix = read_object(objs["matrix"], reader=patient)
    assert hashlib.sha256(matrix).hexdigest() == scan.pixel_sha256 == direct.pixel_sha256
    assert matrix == read_object(plain["matrix"], reader=patient)
    preview = decode_png(read_object(objs["preview"], reader=None))
    full = decode_png(read_object(plain["preview"], reader=None))
    assert full.shape == (1024, 1024) and preview.shape == (512, 512)
    assert np.array_equal(preview, cv2.resize(full, (512, 512), interpolation=cv2.INTER_AREA))

    # API: the preview endpoint serves the opened PNG; detail says what was applied
    resp = doc_client.get(f"{API}/{scan.id}/preview")
    assert resp.status_code == 200 and resp["Content-Type"] == "image/png"
    assert np.array_equal(decode_png(resp.content), preview)
    assert doc_client.get(f"{API}/{scan.id}").json()["neqr_layer"]["applied"] is True

    # the scan page and its cipher image (consented clinician yes, unconsented no)
    html = doc_client.get(reverse("imaging:scan", args=[scan.id])).content.decode()
    assert "Simulated NEQR layer" in html and 'id="neqr-cipher"' in html and 'id="img-preview"' in html
    url = reverse("imaging:neqr-cipher", args=[scan.id])
    resp = doc_client.get(url)
    assert resp.status_code == 200 and resp["Content-Type"] == "image/png"
    cipher = decode_png(resp.content)
    assert cipher.shape == (512, 512) and not np.array_equal(cipher, preview)
    assert resp.content == neqr_layer.cipher_image_png(stored["preview"])
    stranger = login_verified(Client(), ClinicianFactory())
    assert stranger.get(url).status_code in (403, 404)
    assert doc_client.get(reverse("imaging:neqr-cipher", args=[direct.id])).status_code == 404
