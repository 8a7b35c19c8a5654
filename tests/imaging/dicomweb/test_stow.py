"""STOW-RS bad input: each refused part is reported with its FailureReason and leaves nothing
behind (no scan, no study or series, no blob), the good parts of the same request are stored,
and the server keeps serving."""

from __future__ import annotations

import pytest
from django.urls import reverse

from imaging.dicom import json_model, multipart
from imaging.models import Scan, Series, Study
from tests.factories import login_verified
from tests.imaging.conftest import blob_files, png_bytes
from tests.imaging.dicomweb.conftest import frame_pixels, make_dicom, uid

BOUNDARY = "test-boundary-7f3a"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
FAILED, REFERENCED, REASON, SOP = "00081198", "00081199", "00081197", "00081155"


@pytest.fixture
def doc(client, world):
    login_verified(client, world.doc)
    return client


def stow(http, parts, *, study=None, patient=None, content_type=CONTENT_TYPE):
    url = reverse("dicomweb:study", args=[study]) if study else reverse("dicomweb:studies")
    if patient is not None:
        url += f"?patient={patient.pk}"
    body = parts if isinstance(parts, bytes) else multipart.encode(parts, BOUNDARY)
    return http.post(url, body, content_type=content_type)


def reasons(response) -> list[int]:
    return [item[REASON]["Value"][0] for item in response.json().get(FAILED, {}).get("Value", [])]


def stored_uids(response) -> list[str]:
    return [item[SOP]["Value"][0] for item in response.json().get(REFERENCED, {}).get("Value", [])]


def nothing_new(before: dict) -> bool:
    return before == snapshot()


def snapshot() -> dict:
    return {
        "scans": Scan.objects.count(),
        "studies": Study.objects.count(),
        "series": Series.objects.count(),
        "blobs": len(blob_files()),
    }


def test_a_non_dicom_part_fails_alone(doc, world):
    good = make_dicom(seed="good", pixels=frame_pixels(1))
    before = snapshot()
    response = stow(
        doc,
        [("application/dicom", png_bytes(32, 32)), ("application/dicom", good), ("text/plain", b"hello")],
        patient=world.alice,
    )
    assert response.status_code == 202
    assert response["Content-Type"] == json_model.MEDIA_TYPE
    assert reasons(response) == [json_model.CANNOT_UNDERSTAND] * 2
    assert len(stored_uids(response)) == 1
    after = snapshot()
    assert after["scans"] == before["scans"] + 1 and after["blobs"] == before["blobs"] + 1


def test_only_bad_parts_is_a_400_with_the_failures_and_nothing_kept(doc, world):
    before = snapshot()
    response = stow(doc, [("application/dicom", b"not a dicom file at all")], patient=world.alice)
    assert response.status_code == 400 and reasons(response) == [json_model.CANNOT_UNDERSTAND]
    assert nothing_new(before)


def test_a_part_without_sop_instance_uid_fails(doc, world):
    before = snapshot()
    response = stow(doc, [("application/dicom", make_dicom(seed="nosop", sop=None))], patient=world.alice)
    assert response.status_code == 400 and reasons(response) == [json_model.CANNOT_UNDERSTAND]
    assert nothing_new(before)


def test_a_study_uid_that_conflicts_with_its_series_fails_and_keeps_nothing(doc, world):
    series = world.multiframe.series
    other_study = uid("another study")
    conflicting = make_dicom(seed="conflict", study=other_study, series=series.series_instance_uid)
    before = snapshot()
    response = stow(doc, [("application/dicom", conflicting)], patient=world.alice)
    assert response.status_code == 409 and reasons(response) == [json_model.DATA_SET_DOES_NOT_MATCH]
    assert nothing_new(before)
    assert not Study.objects.filter(study_instance_uid=other_study).exists()


def test_storing_into_a_study_refuses_an_instance_of_another(doc, world):
    study = world.ct.series.study.study_instance_uid
    before = snapshot()
    response = stow(doc, [("application/dicom", make_dicom(seed="elsewhere"))], study=study)
    assert response.status_code == 409 and reasons(response) == [json_model.DATA_SET_DOES_NOT_MATCH]
    assert nothing_new(before)
    into = make_dicom(
        seed="into", study=study, series=world.ct.series.series_instance_uid, pixels=frame_pixels(1)
    )
    response = stow(doc, [("application/dicom", into)], study=study)  # the patient is the study's
    assert response.status_code == 200
    assert Scan.objects.get(sop_instance_uid=stored_uids(response)[0]).patient == world.alice


def test_the_same_sop_instance_uid_with_other_content_is_refused(doc, world):
    sop = world.multiframe.sop_instance_uid
    other = make_dicom(seed="mf", sop=sop, pixels=frame_pixels(2))  # same UIDs, other pixels
    before = snapshot()
    response = stow(doc, [("application/dicom", other)], patient=world.alice)
    assert response.status_code == 409 and reasons(response) == [json_model.DUPLICATE_SOP_INSTANCE]
    assert nothing_new(before)


def test_an_oversized_body_is_a_413_before_it_is_read(doc, world, settings):
    settings.QMC_DICOMWEB_MAX_STOW_BYTES = 20_000
    big = make_dicom(seed="big", pixels=frame_pixels(20))
    before = snapshot()
    response = stow(doc, [("application/dicom", big)], patient=world.alice)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert "20,000 bytes" in response.json()["detail"]
    assert nothing_new(before)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        'multipart/related; type="application/dicom+json"; boundary=x',
        "application/dicom",
    ],
)
def test_anything_but_multipart_dicom_is_a_415(doc, world, content_type):
    response = stow(doc, b"{}", patient=world.alice, content_type=content_type)
    assert response.status_code == 415


@pytest.mark.parametrize(
    "body",
    [
        b"--test-boundary-7f3a\r\nContent-Type: application/dicom\r\n\r\nno closing boundary",
        b"no boundary here",
        b"--test-boundary-7f3a--\r\n",
    ],
)
def test_a_malformed_multipart_is_a_400(doc, world, body):
    before = snapshot()
    response = stow(doc, body, patient=world.alice)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert nothing_new(before)


def test_a_clinician_must_name_the_patient(doc, world):
    response = stow(doc, [("application/dicom", make_dicom(seed="who"))])
    assert response.status_code == 400 and "?patient=" in response.json()["detail"]


def test_without_upload_consent_nothing_is_stored(client, world):
    login_verified(client, world.outsider)
    before = snapshot()
    response = stow(client, [("application/dicom", make_dicom(seed="x"))], patient=world.alice)
    assert response.status_code == 404
    assert nothing_new(before)


def test_the_server_still_serves_after_bad_input(doc, world):
    stow(doc, [("application/dicom", b"garbage")], patient=world.alice)
    stow(doc, b"garbage", patient=world.alice)
    assert doc.get(reverse("dicomweb:studies")).status_code == 200
