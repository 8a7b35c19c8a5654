"""WADO-RS over the Django test client: what the consent does not cover is refused and
recorded, frames and rendered images, secondary captures of PNG uploads, and the headers
every /dicomweb response carries."""

from __future__ import annotations

import hashlib
import io

import cv2
import numpy as np
import pydicom
import pytest
from django.urls import reverse

from imaging.dicom.identity import SECONDARY_CAPTURE, generated_uid
from imaging.dicom.multipart import media_type_params, split
from imaging.services import scan_upload
from portal.consent_services import consent_grant
from portal.models import AccessEvent, ScopeKind
from tests.api.conftest import fetch_token
from tests.factories import ClinicianFactory, login_verified
from tests.imaging.conftest import png_bytes
from tests.imaging.dicomweb.conftest import frame_pixels, make_dicom


def url(name: str, scan, **extra) -> str:
    series = scan.series
    kwargs = {"study": series.study.study_instance_uid, "series": series.series_instance_uid}
    kwargs["instance"] = scan.sop_instance_uid
    return reverse(f"dicomweb:{name}", kwargs={**kwargs, **extra})


def parts(response) -> list[bytes]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return [p.content for p in split(body, media_type_params(response["Content-Type"])[1]["boundary"])]


@pytest.fixture
def doc(client, world):
    login_verified(client, world.doc)
    return client


@pytest.fixture
def ct_only(client, world):
    """A clinician whose consent covers Alice's CT scans only."""
    reader = ClinicianFactory()
    consent_grant(
        patient=world.alice,
        grantee_user=reader,
        actions=["view", "download"],
        purposes=["TREAT"],
        scope_kind=ScopeKind.FILTER,
        scope_modality="CT",
    )
    login_verified(client, reader)
    return reader


@pytest.mark.parametrize("name", ["instance", "instance-metadata", "instance-rendered", "instance-thumbnail"])
def test_an_instance_the_consent_does_not_cover_is_refused_and_recorded(client, world, ct_only, name):
    response = client.get(url(name, world.multiframe))
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "outside what the patient's consent shares" in response.json()["detail"]
    event = AccessEvent.objects.filter(actor=ct_only).latest("at")
    assert (event.scan_id, event.allowed, event.reason) == (world.multiframe.pk, False, "out_of_scope")
    assert client.get(url(name, world.ct)).status_code == 200  # what it covers is served


def test_frames_the_consent_does_not_cover(client, world, ct_only):
    assert client.get(url("frames", world.multiframe, frames="1")).status_code == 403


def test_without_any_consent_an_instance_does_not_exist(client, world):
    outsider = world.outsider
    login_verified(client, outsider)
    response = client.get(url("instance", world.ct))
    assert response.status_code == 404
    assert AccessEvent.objects.filter(actor=outsider, scan_id=world.ct.pk, allowed=False).exists()


def test_frames_are_the_uncompressed_pixels_and_bad_lists_are_refused(doc, world):
    pixels = frame_pixels()
    response = doc.get(url("frames", world.multiframe, frames="3,1"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith('multipart/related; type="application/octet-stream"')
    assert parts(response) == [pixels[2].astype("<u2").tobytes(), pixels[0].astype("<u2").tobytes()]
    assert doc.get(url("frames", world.multiframe, frames="4")).status_code == 404
    assert doc.get(url("frames", world.multiframe, frames="1,x")).status_code == 400
    assert doc.get(url("frames", world.multiframe, frames="0")).status_code == 400
    jpeg = 'multipart/related; type="image/jpeg"'
    assert doc.get(url("frames", world.multiframe, frames="1"), HTTP_ACCEPT=jpeg).status_code == 406


def test_the_instance_is_the_uploaded_file_and_a_study_holds_all_its_instances(doc, world):
    response = doc.get(url("instance", world.multiframe))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith('multipart/related; type="application/dicom"')
    (part,) = parts(response)
    assert hashlib.sha256(part).hexdigest() == world.multiframe.original_sha256
    second = scan_upload(
        uploader=world.doc,
        patient=world.alice,
        file=make_dicom(
            seed="second",
            study=world.multiframe.series.study.study_instance_uid,
            series=world.multiframe.series.series_instance_uid,
            pixels=frame_pixels(1),
        ),
    )
    study = reverse("dicomweb:study", args=[world.multiframe.series.study.study_instance_uid])
    before = AccessEvent.objects.filter(actor=world.doc, action="download").count()
    got = {pydicom.dcmread(io.BytesIO(p)).SOPInstanceUID for p in parts(doc.get(study))}
    assert got == {world.multiframe.sop_instance_uid, second.sop_instance_uid}
    assert AccessEvent.objects.filter(actor=world.doc, action="download").count() == before + 2
    metadata = doc.get(study + "/metadata").json()
    assert len(metadata) == 2 and all("7FE00010" not in m for m in metadata)


def test_rendered_frames_windows_viewports_and_thumbnails(doc, world):
    def image(response):
        assert response.status_code == 200, response.content
        return cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)

    wide = {"window": "1500,3000"}  # frame n is a ramp from 1000 * (n - 1)
    first = image(doc.get(url("instance-rendered", world.multiframe), wide))
    third = image(doc.get(url("frames-rendered", world.multiframe, frames="3"), wide))
    assert first.shape == (32, 24) and third.mean() > first.mean() + 100
    narrow = image(doc.get(url("instance-rendered", world.multiframe), {"window": "300,100,linear"}))
    assert not np.array_equal(first, narrow) and set(np.unique(narrow)) - {0, 255}
    small = image(doc.get(url("instance-rendered", world.multiframe), {"viewport": "12,12"}))
    assert small.shape == (12, 9)
    jpeg = doc.get(url("instance-rendered", world.ct), HTTP_ACCEPT="image/jpeg")
    assert jpeg["Content-Type"] == "image/jpeg" and jpeg.content.startswith(b"\xff\xd8\xff")
    thumb = doc.get(url("instance-thumbnail", world.ct))
    assert thumb["Content-Type"] == "image/png" and max(image(thumb).shape) <= 128
    assert doc.get(url("instance-rendered", world.ct), HTTP_ACCEPT="text/html").status_code == 406
    assert doc.get(url("instance-rendered", world.ct), {"window": "40"}).status_code == 400
    assert doc.get(url("frames-rendered", world.ct, frames="2")).status_code == 404


def test_a_png_upload_is_a_secondary_capture_with_uids_of_its_own(doc, world, settings):
    data = png_bytes(40, 30)
    scan = scan_upload(uploader=world.doc, patient=world.alice, file=data, file_name="photo.png")
    root = settings.QMC_DICOM_UID_ROOT
    assert scan.sop_instance_uid == generated_uid(root, scan.pk, "instance")
    assert scan.series.study.study_instance_uid == generated_uid(root, scan.pk, "study")
    (part,) = parts(doc.get(url("instance", scan)))
    ds = pydicom.dcmread(io.BytesIO(part))
    assert ds.SOPClassUID == SECONDARY_CAPTURE and ds.SOPInstanceUID == scan.sop_instance_uid
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(ds.pixel_array, expected)
    assert ds.PatientName == "" and ds.PatientID == ""
    assert parts(doc.get(url("instance", scan))) == [part]  # the same bytes every time
    (frame,) = parts(doc.get(url("frames", scan, frames="1")))
    assert frame == expected.tobytes()


def test_every_response_carries_the_isolation_headers_and_no_cors_by_default(doc, world):
    response = doc.get(reverse("dicomweb:studies"), HTTP_ORIGIN="https://viewer.example")
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response["Cache-Control"] == "private, no-store"
    assert "Access-Control-Allow-Origin" not in response
    preflight = doc.options(
        reverse("dicomweb:studies"),
        HTTP_ORIGIN="https://viewer.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )
    assert preflight.status_code == 204 and "Access-Control-Allow-Methods" not in preflight


def test_a_configured_origin_may_call_with_a_bearer_token(client, world, settings):
    settings.QMC_DICOMWEB_CORS_ORIGINS = ["https://viewer.example"]
    preflight = client.options(
        reverse("dicomweb:studies"),
        HTTP_ORIGIN="https://viewer.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, x-purpose-of-use",
    )
    assert preflight.status_code == 204
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    assert "X-Purpose-Of-Use" in preflight["Access-Control-Allow-Headers"]
    token = fetch_token(client, world.client_id, world.client_secret, "scans:read")
    response = client.get(
        reverse("dicomweb:studies"),
        HTTP_ORIGIN="https://viewer.example",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200 and len(response.json()) == 2
    assert response["Access-Control-Allow-Origin"] == "https://viewer.example"
    assert "Access-Control-Allow-Credentials" not in response
    other = client.get(
        reverse("dicomweb:studies"), HTTP_ORIGIN="https://evil.example", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert "Access-Control-Allow-Origin" not in other


def test_authentication_and_scopes(client, world):
    assert client.get(reverse("dicomweb:studies")).status_code == 401
    read_only = fetch_token(client, world.client_id, world.client_secret, "scans:read")
    stow = client.post(
        reverse("dicomweb:studies"),
        b"",
        content_type='multipart/related; type="application/dicom"; boundary=x',
        HTTP_AUTHORIZATION=f"Bearer {read_only}",
    )
    assert stow.status_code == 403 and "scans:write" in stow.json()["detail"]


def test_a_clinician_without_the_second_factor_gets_a_403_not_a_login_page(client, world):
    client.force_login(world.doc)  # clinicians must verify a second factor
    response = client.get(reverse("dicomweb:studies"))
    assert response.status_code == 403 and response["Content-Type"] == "application/problem+json"


def test_a_malformed_uid_in_the_path_is_a_400(doc, world):
    response = doc.get(reverse("dicomweb:study-metadata", args=["1.2.abc"]))
    assert response.status_code == 400


def test_a_damaged_original_is_refused_before_any_byte_is_sent(doc, world):
    from imaging import blobs

    original = world.multiframe.blobs.get(kind="original")
    path = blobs.store().path_for(original.cid)
    damaged = bytearray(path.read_bytes())
    damaged[-3] ^= 1
    path.chmod(0o600)
    path.write_bytes(bytes(damaged))
    response = doc.get(url("instance", world.multiframe))
    assert response.status_code == 409 and not response.streaming
    assert "integrity" in response.json()["detail"]
