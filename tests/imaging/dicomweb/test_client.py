"""DICOMweb through the real `dicomweb-client` against the live server: search, retrieve (the
retrieved instance is the uploaded file, byte for byte), frames of a multi-frame instance,
metadata, rendered, and store, each under the patient's consent and recorded."""

from __future__ import annotations

import hashlib
import io

import pydicom
import pytest
import requests

from imaging.models import Scan
from portal.consent_services import consent_grant
from portal.models import AccessEvent
from tests.api.conftest import register_client
from tests.imaging.dicomweb.conftest import bearer_client, frame_pixels, make_dicom, session_client

pytestmark = pytest.mark.django_db(transaction=True)

STUDY, SERIES, SOP, FRAMES = "0020000D", "0020000E", "00080018", "00280008"


def value(item: dict, tag: str):
    return item[tag]["Value"][0]


def uids_of(scan) -> tuple[str, str, str]:
    scan = Scan.objects.select_related("series__study").get(pk=scan.pk)
    return scan.series.study.study_instance_uid, scan.series.series_instance_uid, scan.sop_instance_uid


def test_search_retrieve_and_frames_with_a_bearer_token(live_server, client, world):
    dw = bearer_client(live_server.url, client, world.client_id, world.client_secret)
    study, series, sop = uids_of(world.multiframe)
    ct_study = uids_of(world.ct)[0]

    before = AccessEvent.objects.filter(actor=world.client_user).count()
    studies = {value(s, STUDY): s for s in dw.search_for_studies()}
    assert set(studies) == {study, ct_study}
    assert studies[study]["00201208"]["Value"] == [1]  # NumberOfStudyRelatedInstances
    assert studies[study]["00080061"]["Value"] == ["MR"]  # ModalitiesInStudy
    assert AccessEvent.objects.filter(actor=world.client_user, action="list").count() == before + 1

    assert [value(s, SERIES) for s in dw.search_for_series(study_instance_uid=study)] == [series]
    found = dw.search_for_instances(study_instance_uid=study, series_instance_uid=series)
    assert [value(i, SOP) for i in found] == [sop] and value(found[0], FRAMES) == 3
    assert dw.search_for_studies(search_filters={"StudyDate": "20240101-20241231"}) == [studies[study]]

    url = f"{live_server.url}/dicomweb/studies/{study}/series/{series}/instances/{sop}"
    (raw,) = dw.retrieve_bulkdata(url)  # the part's bytes as sent
    assert hashlib.sha256(raw).hexdigest() == hashlib.sha256(world.multiframe_bytes).hexdigest()
    ds = dw.retrieve_instance(study, series, sop)
    assert ds.NumberOfFrames == 3 and ds.SOPInstanceUID == sop

    pixels = frame_pixels()
    frames = dw.retrieve_instance_frames(study, series, sop, frame_numbers=[1, 3])
    assert frames == [pixels[0].astype("<u2").tobytes(), pixels[2].astype("<u2").tobytes()]

    meta = dw.retrieve_instance_metadata(study, series, sop)
    assert value(meta, FRAMES) == 3 and "7FE00010" not in meta  # no pixel data in metadata

    png = dw.retrieve_instance_rendered(study, series, sop, media_types=("image/png",))
    assert png.startswith(b"\x89PNG")

    downloads = AccessEvent.objects.filter(actor=world.client_user, scan_id=world.multiframe.pk, allowed=True)
    assert {"download", "view"} <= set(downloads.values_list("action", flat=True))


def test_a_clinician_session_reads_the_ct(live_server, client, world):
    dw = session_client(live_server.url, client, world.doc)
    study, series, sop = uids_of(world.ct)
    from tests.imaging.conftest import dicom_bytes

    (raw,) = dw.retrieve_bulkdata(
        f"{live_server.url}/dicomweb/studies/{study}/series/{series}/instances/{sop}"
    )
    assert raw == dicom_bytes("CT_small.dcm")
    (meta,) = dw.retrieve_study_metadata(study)
    assert value(meta, "00100020") == pydicom.dcmread(io.BytesIO(raw)).PatientID  # identified, for treatment


def test_store_puts_the_instance_through_the_upload_path(live_server, client, world):
    consent_grant(patient=world.alice, grantee_user=world.client_user, actions=["upload"], purposes=["TREAT"])
    dw = bearer_client(live_server.url, client, world.client_id, world.client_secret)
    ds = pydicom.dcmread(io.BytesIO(make_dicom(seed="stow", pixels=frame_pixels(2))))
    sent = io.BytesIO()
    pydicom.dcmwrite(sent, ds)  # as the client encodes it

    response = dw.store_instances([ds], additional_params={"patient": str(world.alice.pk)})

    (ref,) = response.ReferencedSOPSequence
    assert ref.ReferencedSOPInstanceUID == ds.SOPInstanceUID and "FailedSOPSequence" not in response
    scan = Scan.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert scan.patient == world.alice and scan.uploaded_by == world.client_user and scan.frames == 2
    assert scan.original_sha256 == hashlib.sha256(sent.getvalue()).hexdigest()
    assert AccessEvent.objects.filter(actor=world.client_user, action="upload", allowed=True).exists()
    series = f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
    path = f"{series}/instances/{ds.SOPInstanceUID}"
    # the URL's host is the request's Host header, which this client sends without the port
    assert ref.RetrieveURL.endswith(path)
    (raw,) = dw.retrieve_bulkdata(live_server.url + path)
    assert raw == sent.getvalue()

    again = dw.store_instances([ds], additional_params={"patient": str(world.alice.pk)})  # a retried STOW
    assert len(again.ReferencedSOPSequence) == 1
    assert Scan.objects.filter(sop_instance_uid=ds.SOPInstanceUID).count() == 1


def test_without_consent_nothing_is_found(live_server, client, world):
    study, series, sop = uids_of(world.ct)
    client_id, secret, _ = register_client("No consent")
    for dw in (
        bearer_client(live_server.url, client, client_id, secret),
        session_client(live_server.url, client, world.outsider),
    ):
        assert dw.search_for_studies() == []
        assert dw.search_for_instances() == []
        with pytest.raises(requests.HTTPError) as refused:
            dw.retrieve_instance(study, series, sop)
        assert refused.value.response.status_code == 404
        assert refused.value.response.headers["Content-Type"] == "application/problem+json"
