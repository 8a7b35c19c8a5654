"""The pipeline end to end on the REAL worker (broker + database of the test run)."""

import hashlib
import json

import pytest
from django.urls import reverse

from imaging.models import Scan, ScanObject, ScanStatus, StagedObject
from imaging.pipeline import ledger_event_id
from imaging.storage import LocalCAS, cid_for
from tests.conftest import wait_for
from tests.imaging.conftest import blob_files, dicom_bytes, jpeg_bytes, png_bytes, upload_file

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drained")]


def upload(client, patient, data, name):
    resp = client.post("/api/v1/scans", {"patient": str(patient.pk), "file": upload_file(data, name)})
    assert resp.status_code == 202, resp.content
    return resp.json()


def wait_done(scan_id, timeout=60):
    def finished():
        s = Scan.objects.get(pk=scan_id)
        return s if s.status in (ScanStatus.DONE, ScanStatus.FAILED) else None

    scan = wait_for(finished, timeout=timeout, what=f"scan {scan_id} to finish")
    assert scan.status == ScanStatus.DONE, scan.failure_reason
    return scan


def wait_ledger(scan):
    from ledger.selectors import entry_for_event

    return wait_for(lambda: entry_for_event(scan.ledger_event_id), timeout=60, what="ledger entry")


def ledger_facts(entry) -> dict:
    """The facts behind a v2 entry's commitments, from the private index, each checked
    against the public entry."""
    from ledger.chain import open_entry
    from ledger.selectors import openings_for_event, record

    return open_entry(record(entry), openings_for_event(entry.event_id))


@pytest.mark.smoke
def test_dicom_png_jpeg_through_the_real_worker(celery_worker, doc_client, patient, settings):
    bodies = [
        upload(doc_client, patient, dicom_bytes("CT_small.dcm"), "ct.dcm"),
        upload(doc_client, patient, png_bytes(512, 512), "x.png"),
        upload(doc_client, patient, jpeg_bytes(600, 800), "y.jpg"),
    ]
    store = LocalCAS(settings.QMC_BLOB_DIR)
    for body in bodies:
        scan = wait_done(body["id"])
        # none of them is a chest X-ray: the applicability gate refuses them (no label, no
        # probability; tests/imaging/test_applicability_pipeline.py diagnoses a chest X-ray)
        assert scan.model_id and scan.model_sha256 and scan.diagnosis_applicable is False
        assert scan.diagnosis_label == "" and scan.diagnosis_probability is None
        assert scan.diagnosis_reason.startswith("not applicable: the model is for chest X-rays")
        assert scan.preprocess_version == "1"
        objs = {o.kind: o for o in ScanObject.objects.filter(scan=scan)}
        assert set(objs) == {"original", "preview", "matrix"}
        assert not StagedObject.objects.filter(scan=scan).exists()
        for o in objs.values():
            blob = store.get(o.cid)
            assert o.cid == cid_for(blob) and hashlib.sha256(blob).hexdigest() == o.ciphertext_sha256
            assert blob[:4] == b"QMCE"  # envelope ciphertext, not a PNG / float matrix
        entry = wait_ledger(scan)
        assert set(json.loads(entry.payload)) == {"commitments"}  # nothing in clear
        payload = ledger_facts(entry)
        assert entry.event_type == "scan.registered" and payload["scan_id"] == str(scan.id)
        assert payload["pixel_sha256"] == scan.pixel_sha256
        assert payload["ciphertext_cid"] == objs["original"].cid
        assert payload["derived_cid"] == objs["preview"].cid and payload["cid"] == objs["matrix"].cid
        assert payload["sha256"] == objs["matrix"].ciphertext_sha256
        assert payload["model_sha256"] == scan.model_sha256 and payload["label"] == "not-applicable"
        assert len(scan.qwalk_hash) == 64 and payload["fp:qwalk"] == scan.qwalk_hash
        assert entry.fingerprints is None and "not-applicable" not in entry.payload
        assert str(patient.pk) not in entry.payload and patient.username not in entry.payload
        assert scan.ledger_event_id == ledger_event_id(scan.id)

    ct = Scan.objects.get(pk=bodies[0]["id"])
    assert ct.modality == "CT" and ct.study_date is not None
    status = doc_client.get(bodies[0]["status_url"]).json()
    assert status["done"] and status["progress"] == 100 and status["diagnosis"]["model_id"] == ct.model_id
    page = doc_client.get(reverse("imaging:scan", args=[ct.id]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="img-preview"' in html and 'id="img-matrix"' in html and ct.model_version in html
    assert "Verified" in html or "Partly verified" in html
    assert "Quantum-walk hash" in html and "SIMULATED, secondary" in html and ct.qwalk_hash[:16] in html
    assert patient.username not in html.split("<main", 1)[1].split("Scan of", 1)[1][200:]  # no ids in tags
    lst = doc_client.get(reverse("imaging:patient-scans", args=[patient.pk]))
    assert lst.status_code == 200 and lst.content.decode().count("Done") >= 3
    assert len(blob_files()) >= 9
