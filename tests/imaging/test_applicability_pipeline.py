"""The applicability gate and the saliency map through the REAL worker: a pydicom CT file is
stored "not applicable" (no label, no probability, no saliency map; the ledger commits to
"not-applicable"), a validation chest X-ray PNG is diagnosed with an encrypted saliency map,
and the API, FHIR, the scan page and the saliency URL (consent-gated) say so over HTTP."""

import hashlib

import cv2
import numpy as np
import pytest
from django.urls import reverse

from imaging.ml.applicability import NOT_APPLICABLE
from imaging.models import ScanObject
from imaging.storage import LocalCAS
from tests.imaging.conftest import cxr_png_bytes, dicom_bytes, png_bytes
from tests.imaging.test_pipeline import ledger_facts, upload, wait_done, wait_ledger

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drained")]


def test_ct_not_applicable_and_cxr_diagnosed(celery_worker, doc_client, patient, settings, client):
    ct = upload(doc_client, patient, dicom_bytes("CT_small.dcm"), "ct.dcm")
    noise = upload(doc_client, patient, png_bytes(256, 256), "noise.png")
    cxr = upload(doc_client, patient, cxr_png_bytes(0), "cxr.png")
    store = LocalCAS(settings.QMC_BLOB_DIR)

    for body in (ct, noise):
        scan = wait_done(body["id"])
        assert scan.diagnosis_applicable is False and scan.diagnosis_reason.startswith(NOT_APPLICABLE)
        assert scan.diagnosis_label == "" and scan.diagnosis_probability is None and scan.model_sha256
        assert set(ScanObject.objects.filter(scan=scan).values_list("kind", flat=True)) == {
            "original",
            "preview",
            "matrix",
        }
        facts = ledger_facts(wait_ledger(scan))
        assert facts["label"] == "not-applicable" and "probability" not in facts
        # API: scan detail and the diagnosis endpoint
        detail = doc_client.get(f"/api/v1/scans/{scan.id}").json()
        assert detail["diagnosis"]["applicable"] is False and detail["diagnosis"]["label"] is None
        assert (
            detail["diagnosis"]["probability"] is None
            and detail["diagnosis"]["reason"] == scan.diagnosis_reason
        )
        # FHIR: conclusion "not applicable", no value
        report = doc_client.get(reverse("imaging-api:fhir-diagnostic-report", args=[scan.id])).json()
        assert report["conclusion"].startswith(NOT_APPLICABLE)
        obs = next(r for r in report["contained"] if r["resourceType"] == "Observation")
        assert "valueCodeableConcept" not in obs and "component" not in obs
        assert obs["dataAbsentReason"]["coding"][0]["code"] == "not-applicable"
        # the page
        html = doc_client.get(reverse("imaging:scan", args=[scan.id])).content.decode()
        assert "Not applicable" in html and "not applicable: the model is for chest X-rays" in html
        assert 'id="saliency-toggle"' not in html and 'id="diag-prob"' not in html
        assert doc_client.get(reverse("imaging:saliency", args=[scan.id])).status_code == 404
    assert "a CT scan (DICOM modality CT)" in wait_done(ct["id"]).diagnosis_reason  # the metadata check
    assert "does not look like the chest X-rays" in wait_done(noise["id"]).diagnosis_reason  # the image check

    scan = wait_done(cxr["id"])
    assert scan.diagnosis_applicable is True and scan.diagnosis_reason == ""
    assert scan.diagnosis_label in ("normal", "pneumonia") and 0 <= scan.diagnosis_probability <= 1
    objs = {o.kind: o for o in ScanObject.objects.filter(scan=scan)}
    assert set(objs) == {"original", "preview", "matrix", "saliency"}
    blob = store.get(objs["saliency"].cid)
    assert blob[:4] == b"QMCE" and b"PNG" not in blob[:64]  # ciphertext on disk, not a PNG
    assert hashlib.sha256(blob).hexdigest() == objs["saliency"].ciphertext_sha256
    facts = ledger_facts(wait_ledger(scan))
    assert facts["label"] == scan.diagnosis_label and facts["probability"] == pytest.approx(
        scan.diagnosis_probability
    )
    detail = doc_client.get(f"/api/v1/scans/{scan.id}").json()
    assert detail["diagnosis"]["applicable"] is True and detail["diagnosis"]["label"] == scan.diagnosis_label
    assert "saliency" in {o["kind"] for o in detail["objects"]}
    html = doc_client.get(reverse("imaging:scan", args=[scan.id])).content.decode()
    assert 'id="saliency-toggle"' in html and "(calibrated)" in html
    assert "of pneumonia cases and cleared" in html and "normal X-rays in validation" in html

    # the saliency overlay: a PNG for the consented clinician and the patient
    url = reverse("imaging:saliency", args=[scan.id])
    resp = doc_client.get(url)
    assert resp.status_code == 200 and resp["Content-Type"] == "image/png"
    overlay = cv2.imdecode(np.frombuffer(resp.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert overlay.shape == (256, 256, 4) and overlay[:, :, 3].max() > 0
    assert "no-store" in resp["Cache-Control"]
    # ... and nothing for anyone else
    from tests.factories import ClinicianFactory, PatientFactory, login_verified

    client.logout()
    assert client.get(url).status_code == 302  # login first
    login_verified(client, ClinicianFactory())
    assert client.get(url).status_code in (403, 404)
    client.force_login(PatientFactory())
    assert client.get(url).status_code in (403, 404)
    client.force_login(patient)
    assert client.get(url).status_code == 200


def test_saliency_withdrawn_with_consent(celery_worker, doc_client, patient, clinician):
    """Revoking the clinician's consent removes their key wraps: the saliency map is refused."""
    from portal.consent_services import consent_revoke
    from portal.models import Consent

    scan = wait_done(upload(doc_client, patient, cxr_png_bytes(3), "cxr.png")["id"])
    url = reverse("imaging:saliency", args=[scan.id])
    assert doc_client.get(url).status_code == 200
    consent_revoke(actor=patient, consent=Consent.objects.get(patient=patient, grantee_user=clinician))
    assert doc_client.get(url).status_code in (403, 404)
