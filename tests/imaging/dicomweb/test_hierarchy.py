"""The DICOM hierarchy over scans: every upload path files its instance in a study and a
series, refuses what cannot be filed (nothing kept), keeps every frame of a multi-frame
original, and migration 0007 files the scans that were there before."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from imaging.models import Scan, Series, Study
from imaging.pipeline import decrypt_object
from imaging.services import scan_upload
from imaging.validation import UploadRejected
from tests.factories import login_verified
from tests.imaging.conftest import blob_files, dicom_bytes, png_bytes, upload_file
from tests.imaging.dicomweb.conftest import frame_pixels, make_dicom, uid


def test_a_dicom_upload_is_filed_by_its_own_uids(world):
    ct = Scan.objects.select_related("series__study").get(pk=world.ct.pk)
    assert ct.sop_instance_uid == "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
    assert ct.series.series_instance_uid == "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
    assert ct.series.study.study_instance_uid == "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    assert (ct.series.modality, ct.sop_class_uid) == ("CT", "1.2.840.10008.5.1.4.1.1.2")
    assert ct.transfer_syntax_uid == "1.2.840.10008.1.2.1" and ct.series.study.patient == world.alice
    assert not ct.series.study.generated_uids


def test_a_multi_frame_original_is_kept_whole(world):
    original = world.multiframe.blobs.get(kind="original")
    assert decrypt_object(original, reader=None) == world.multiframe_bytes
    assert world.multiframe.frames == 3
    assert world.multiframe.original_sha256 == hashlib.sha256(world.multiframe_bytes).hexdigest()


def test_instances_of_one_series_share_its_rows(world):
    series = world.multiframe.series
    again = make_dicom(
        seed="sibling",
        study=series.study.study_instance_uid,
        series=series.series_instance_uid,
        pixels=frame_pixels(1),
    )
    scan = scan_upload(uploader=world.doc, patient=world.alice, file=again)
    assert scan.series_id == series.pk
    assert Series.objects.filter(series_instance_uid=series.series_instance_uid).count() == 1


def test_png_uploads_are_studies_of_their_own(world):
    a = scan_upload(uploader=world.doc, patient=world.alice, file=png_bytes(32, 32, seed=1))
    b = scan_upload(uploader=world.doc, patient=world.alice, file=png_bytes(32, 32, seed=1))
    assert a.series.study_id != b.series.study_id and a.sop_instance_uid != b.sop_instance_uid
    assert a.series.study.generated_uids and a.series.modality == "OT"


def test_the_web_api_refuses_a_conflicting_study_and_keeps_nothing(client, world):
    login_verified(client, world.doc)
    series = world.ct.series
    conflicting = make_dicom(seed="c", study=uid("other"), series=series.series_instance_uid)
    before = (Scan.objects.count(), Study.objects.count(), Series.objects.count(), blob_files())
    response = client.post(
        reverse("imaging-api:scans"),
        {"patient": str(world.alice.pk), "file": upload_file(conflicting, "c.dcm")},
    )
    assert response.status_code == 409 and response["Content-Type"] == "application/problem+json"
    assert "another study" in response.json()["detail"]
    assert (Scan.objects.count(), Study.objects.count(), Series.objects.count(), blob_files()) == before


@pytest.mark.parametrize(
    "data,code",
    [
        (make_dicom(seed="n", sop=None), "no_sop_instance_uid"),
        (make_dicom(seed="bad", sop="1.2.03"), "invalid_uid"),  # a leading zero in a component
    ],
)
def test_an_instance_without_a_valid_sop_instance_uid_is_refused(world, data, code):
    before = (Scan.objects.count(), blob_files())
    with pytest.raises(UploadRejected) as refused:
        scan_upload(uploader=world.doc, patient=world.alice, file=data)
    assert refused.value.code == code and refused.value.status == 400
    assert (Scan.objects.count(), blob_files()) == before


@pytest.mark.django_db(transaction=True)
def test_migration_0007_files_the_scans_that_were_there():
    """Before 0007: a DICOM scan (its original stored, key wrapped for the system) and a PNG
    scan. After: the DICOM is filed by its own UIDs, the PNG as a secondary capture."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from crypto import envelope
    from imaging import blobs
    from imaging.dicom.identity import generated_uid
    from portal import keys
    from tests.factories import PatientFactory

    executor = MigrationExecutor(connection)
    executor.migrate([("imaging", "0006_scan_claim_worker_heartbeat")])
    try:
        old = executor.loader.project_state([("imaging", "0006_scan_claim_worker_heartbeat")]).apps
        OldScan, OldObject = old.get_model("imaging", "Scan"), old.get_model("imaging", "ScanObject")
        patient = PatientFactory()
        made = {}
        for fmt, data in (("dicom", dicom_bytes("CT_small.dcm")), ("png", png_bytes(16, 16))):
            scan = OldScan.objects.create(
                patient_id=patient.pk,
                uploaded_by_id=patient.pk,
                source_format=fmt,
                original_size=len(data),
                original_sha256=hashlib.sha256(data).hexdigest(),
                modality="CT" if fmt == "dicom" else "",
            )
            obj = OldObject(scan=scan, kind="original", version=1, plaintext_size=len(data), backend="local")
            key = envelope.new_data_key()
            ciphertext = envelope.encrypt(data, key, object_id=str(obj.id), kind="original")
            obj.cid = blobs.store().put(ciphertext)
            obj.ciphertext_sha256 = hashlib.sha256(ciphertext).hexdigest()
            obj.save()
            keys.wrap_for(object_id=obj.id, patient=patient, data_key=key, reader=None)
            made[fmt] = scan.pk
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    from django.conf import settings

    ct = Scan.objects.select_related("series__study").get(pk=made["dicom"])
    assert ct.series.study.study_instance_uid == "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    assert ct.sop_instance_uid == "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
    png = Scan.objects.select_related("series__study").get(pk=made["png"])
    assert png.sop_instance_uid == generated_uid(settings.QMC_DICOM_UID_ROOT, png.pk, "instance")
    assert png.series.study.generated_uids and png.sop_class_uid == "1.2.840.10008.5.1.4.1.1.7"
