"""Optional SIMULATED ghost-imaging acquisition in the web uploader (off by default)."""

import numpy as np
import pytest
from django.template.defaultfilters import floatformat
from django.urls import reverse

from imaging import pipeline, services
from imaging.models import Acquisition, Scan
from imaging.validation import UploadRejected
from tests.imaging.conftest import blob_files, png_bytes, upload_file


def _form(patient, data, **extra):
    return {"patient": str(patient.pk), "file": upload_file(data, "x.png", "image/png"), **extra}


def test_ghost_acquire_is_deterministic_and_measured():
    yy, xx = np.mgrid[0:200, 0:160]
    img = ((np.sin(xx / 11) + np.cos(yy / 7) + 2) / 4).astype(np.float32)
    a = pipeline.ghost_acquire(img, method="dgi", ratio=0.3, seed=7)
    b = pipeline.ghost_acquire(img, method="dgi", ratio=0.3, seed=7)
    assert a.image.shape == (64, 64) and np.array_equal(a.image, b.image)
    assert a.measurements == round(0.3 * 64 * 64) and a.psnr == b.psnr
    assert np.array_equal(np.round(a.image * 255), a.image * 255)  # 8-bit levels
    cs = pipeline.ghost_acquire(img, method="cs", ratio=0.3, seed=7)
    assert cs.psnr > a.psnr and 0 < cs.ssim <= 1  # expected order cs > dgi


@pytest.mark.django_db
def test_default_upload_is_direct(doc_client, patient):
    resp = doc_client.post(reverse("imaging:upload"), _form(patient, png_bytes(64, 64)))
    assert resp.status_code == 302
    scan = Scan.objects.get()
    assert scan.acquisition == Acquisition.DIRECT and scan.ghost_method == "" and scan.ghost_ratio is None


@pytest.mark.django_db
def test_form_shows_the_labelled_option(doc_client):
    html = doc_client.get(reverse("imaging:upload")).content.decode()
    assert "Acquire by simulated ghost imaging (demo)" in html and 'name="ghost"' in html
    assert 'name="ghost" checked' not in html


@pytest.mark.django_db
def test_ghost_upload_flags_the_scan(doc_client, patient):
    resp = doc_client.post(
        reverse("imaging:upload"),
        _form(patient, png_bytes(64, 64), ghost="on", ghost_ratio="0.25", ghost_method="dgi"),
    )
    assert resp.status_code == 302, resp.content.decode()[:500]
    scan = Scan.objects.get()
    assert scan.acquisition == "ghost-simulated" and scan.ghost_method == "dgi" and scan.ghost_ratio == 0.25


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ghost,field",
    [
        ({"ratio": "0"}, "ratio"),
        ({"ratio": "1.5"}, "ratio"),
        ({"ratio": "nan"}, "ratio"),
        ({"method": "x"}, "method"),
    ],
)
def test_bad_ghost_parameters_are_refused_and_nothing_stored(clinician, patient, ghost, field):
    before = blob_files()
    with pytest.raises(UploadRejected, match=field):
        services.scan_upload(uploader=clinician, patient=patient, file=png_bytes(64, 64), ghost=ghost)
    assert not Scan.objects.exists() and blob_files() == before


@pytest.mark.django_db
def test_bad_ghost_ratio_in_the_form(doc_client, patient):
    before = blob_files()
    resp = doc_client.post(
        reverse("imaging:upload"),
        _form(patient, png_bytes(64, 64), ghost="on", ghost_ratio="2", ghost_method="cs"),
    )
    assert resp.status_code == 400 and "sampling ratio" in resp.content.decode()
    assert not Scan.objects.exists() and blob_files() == before


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drained")
def test_ghost_scan_through_the_real_worker(celery_worker, doc_client, patient):
    from tests.imaging.test_pipeline import ledger_facts, wait_done, wait_ledger

    data = png_bytes(256, 256, seed=5)
    doc_client.post(
        reverse("imaging:upload"), _form(patient, data, ghost="on", ghost_ratio="0.3", ghost_method="cs")
    )
    doc_client.post(reverse("imaging:upload"), _form(patient, data))
    ghost_scan = Scan.objects.get(acquisition=Acquisition.GHOST)
    direct_scan = Scan.objects.get(acquisition=Acquisition.DIRECT)
    ghost_scan, direct_scan = wait_done(ghost_scan.id, timeout=120), wait_done(direct_scan.id, timeout=120)
    assert ghost_scan.ghost_measurements == round(0.3 * 4096)
    assert ghost_scan.ghost_psnr > 10 and 0 < ghost_scan.ghost_ssim <= 1
    assert ghost_scan.pixel_sha256 != direct_scan.pixel_sha256  # the simulated pixels were processed
    assert ghost_scan.original_sha256 == direct_scan.original_sha256  # the original is kept as uploaded
    assert direct_scan.ghost_psnr is None
    payload = ledger_facts(wait_ledger(ghost_scan))
    assert payload["kind"] == "ghost-simulated"
    assert "kind" not in ledger_facts(wait_ledger(direct_scan))
    html = doc_client.get(reverse("imaging:scan", args=[ghost_scan.id])).content.decode()
    # floatformat rounds the decimal repr half-up, an f-string rounds the binary value: compare like with like
    assert "SIMULATED" in html and f'id="ghost-psnr">{floatformat(ghost_scan.ghost_psnr, 2)}<' in html
    assert "SIMULATED ghost-imaging reconstruction" in html
