"""A research purpose (HRESCH) receives de-identified instances only: over DICOMweb (the real
`dicomweb-client` against the live server, and the Django test client) and over the scan API's
download. UIDs are the caller's keyed pseudonyms, consistent across a study and different for
another research client; the identified original never leaves; each read is decided by the
consent, recorded, and each de-identified instance is on the ledger with its profile."""

from __future__ import annotations

import io
import json

import pydicom
import pytest
import requests
from django.urls import reverse

from imaging.dicom import deid
from imaging.dicom.multipart import media_type_params, split
from imaging.models import Scan
from imaging.research import pseudonym_uid, recipient_key
from imaging.services import scan_upload
from ledger.models import EntryOpening
from portal.consent_services import consent_grant
from portal.models import AccessEvent
from tests.api.conftest import ALL_READ_SCOPES, fetch_token, register_client
from tests.imaging.conftest import dicom_bytes, png_bytes
from tests.imaging.dicomweb.conftest import bearer_client, frame_pixels, make_dicom

STUDY, SERIES, SOP = "0020000D", "0020000E", "00080018"
STUDY_DATE, ACCESSION, PATIENT_ID, PATIENT_NAME = "00080020", "00080050", "00100020", "00100010"
RESEARCH = {"HTTP_X_PURPOSE_OF_USE": "HRESCH"}


def uids(scan) -> tuple[str, str, str]:
    scan = Scan.objects.select_related("series__study").get(pk=scan.pk)
    return scan.series.study.study_instance_uid, scan.series.series_instance_uid, scan.sop_instance_uid


def pseudo(user, scan) -> tuple[str, str, str]:
    key = recipient_key(user)
    return tuple(pseudonym_uid(key, u) for u in uids(scan))


def identifying(scans) -> list[bytes]:
    """What must never reach a research caller: the real UIDs and the patient attributes of
    the uploaded files."""
    out = [b"Secret^Person", b"MRN-0042", b"CompressedSamples", b"1CT1", b"20240315"]
    for scan in scans:
        out += [u.encode() for u in uids(scan)]
    return out


def assert_deidentified(data: bytes, world, *, user) -> pydicom.Dataset:
    for value in identifying([world.ct, world.multiframe]):
        assert value not in data, value
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    key = recipient_key(user)
    assert ds.PatientID == deid.patient_pseudonym(key, str(world.alice.pk))
    return ds


@pytest.fixture
def research(world):
    """Two research clients with Alice's HRESCH consent (view, download), an ultrasound in the
    MR's study that says nothing of burned-in text, and a PNG upload (neither released for
    research)."""
    clients = {}
    for name in ("a", "b"):
        client_id, secret, user = register_client(f"Research {name}")
        consent_grant(
            patient=world.alice, grantee_user=user, actions=["view", "download"], purposes=["HRESCH"]
        )
        clients[name] = (client_id, secret, user)
    mr_study = uids(world.multiframe)[0]
    us = scan_upload(
        uploader=world.doc,
        patient=world.alice,
        file=make_dicom(seed="us", modality="US", study=mr_study),
        file_name="us.dcm",
    )
    raster = scan_upload(uploader=world.doc, patient=world.alice, file=png_bytes(64, 64), file_name="x.png")
    return {"clients": clients, "us": us, "png": raster}


def _token(http, entry) -> dict:
    client_id, secret, _ = entry
    return {
        "HTTP_AUTHORIZATION": f"Bearer {fetch_token(http, client_id, secret, ALL_READ_SCOPES)}",
        **RESEARCH,
    }


def _wado(name: str, ids: tuple[str, str, str], **extra) -> str:
    return reverse(
        f"dicomweb:{name}", kwargs={"study": ids[0], "series": ids[1], "instance": ids[2], **extra}
    )


@pytest.mark.django_db(transaction=True)
def test_a_research_client_searches_and_retrieves_only_deidentified_instances(
    live_server, client, world, research
):
    client_id, secret, user = research["clients"]["a"]
    dw = bearer_client(live_server.url, client, client_id, secret, **{"X-Purpose-Of-Use": "HRESCH"})
    ct, mf = pseudo(user, world.ct), pseudo(user, world.multiframe)

    studies = dw.search_for_studies()
    assert {s[STUDY]["Value"][0] for s in studies} == {ct[0], mf[0]}  # no PNG upload
    assert not any(STUDY_DATE in s or ACCESSION in s for s in studies)
    assert json.dumps(studies).find(uids(world.ct)[0]) == -1
    series = dw.search_for_series(study_instance_uid=mf[0])  # the MR's and the ultrasound's
    assert {s[SERIES]["Value"][0] for s in series} == {mf[1], pseudo(user, research["us"])[1]}
    assert {s[STUDY]["Value"][0] for s in series} == {mf[0]}
    (found,) = dw.search_for_instances(study_instance_uid=mf[0], search_filters={"SOPInstanceUID": mf[2]})
    assert found["00081190"]["Value"][0].endswith(
        f"/dicomweb/studies/{mf[0]}/series/{mf[1]}/instances/{mf[2]}"
    )

    (raw,) = dw.retrieve_bulkdata(f"{live_server.url}{_wado('instance', mf)}")
    ds = assert_deidentified(raw, world, user=user)
    assert (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID) == mf
    assert ds.NumberOfFrames == 3 and str(ds.PatientName) != "Secret^Person"
    pixels = frame_pixels()
    assert dw.retrieve_instance_frames(*mf, frame_numbers=[2]) == [pixels[1].astype("<u2").tobytes()]
    meta = dw.retrieve_instance_metadata(*mf)
    assert meta[PATIENT_ID]["Value"] == [ds.PatientID] and "Secret" not in json.dumps(meta)
    (ct_ds,) = dw.retrieve_study(ct[0])
    assert ct_ds.PatientIdentityRemoved == "YES" and ct_ds.StudyInstanceUID == ct[0]
    assert dw.retrieve_instance_rendered(*ct, media_types=("image/png",)).startswith(b"\x89PNG")

    reads = AccessEvent.objects.filter(
        actor=user, scan_id=world.multiframe.pk, purpose="HRESCH", allowed=True
    )
    assert {"download", "view"} <= set(reads.values_list("action", flat=True))
    facts = [json.loads(o.openings) for o in EntryOpening.objects.filter(event_type="scan.deidentified")]
    assert facts and {f["profile"]["value"] for f in facts} == {deid.PROFILE_WORD}
    assert {f["algorithm"]["value"] for f in facts} == {"dicom-anonymizer-2.1.0"}
    assert all(f["options"]["value"] == ["113100"] for f in facts)


def test_uids_are_consistent_for_one_client_and_differ_between_clients(client, world, research):
    def studies(entry):
        response = client.get(reverse("dicomweb:studies"), **_token(client, entry))
        return sorted(s[STUDY]["Value"][0] for s in response.json())

    a, b = research["clients"]["a"], research["clients"]["b"]
    assert studies(a) == studies(a) != studies(b)
    assert not set(studies(a)) & set(studies(b))
    mf = pseudo(a[2], world.multiframe)
    us = pseudo(a[2], research["us"])
    response = client.get(reverse("dicomweb:instances"), {"StudyInstanceUID": mf[0]}, **_token(client, a))
    found = {(i[STUDY]["Value"][0], i[SERIES]["Value"][0], i[SOP]["Value"][0]) for i in response.json()}
    assert found == {mf, us} and us[0] == mf[0]  # one study UID across its series
    # b's pseudonyms of the same study name nothing for a, and the real UIDs name nothing either
    for ids in (pseudo(b[2], world.multiframe), uids(world.multiframe)):
        assert client.get(_wado("instance-metadata", ids), **_token(client, a)).status_code == 404


def test_the_identified_original_never_leaves_for_a_research_purpose(client, world, research):
    entry = research["clients"]["a"]
    user = entry[2]
    headers = _token(client, entry)
    ct = pseudo(user, world.ct)
    for name, extra in (("instance", {}), ("instance-metadata", {}), ("frames", {"frames": "1"})):
        response = client.get(_wado(name, ct, **extra), **headers)
        assert response.status_code == 200, name
        body = b"".join(response.streaming_content) if response.streaming else response.content
        for value in identifying([world.ct]):
            assert value not in body, (name, value)
    study = client.get(reverse("dicomweb:study", kwargs={"study": ct[0]}), **headers)
    assert dicom_bytes("CT_small.dcm") not in b"".join(study.streaming_content)

    download = client.get(reverse("imaging-api:scan-original", kwargs={"scan_id": world.ct.pk}), **headers)
    assert download.status_code == 200 and download["Content-Type"] == "application/dicom"
    assert "deidentified" in download["Content-Disposition"]
    assert_deidentified(download.content, world, user=user)
    treat = client.get(
        reverse("imaging-api:scan-original", kwargs={"scan_id": world.ct.pk}),
        HTTP_AUTHORIZATION=headers["HTTP_AUTHORIZATION"],
    )
    assert treat.status_code == 403  # the research consent does not cover treatment


def test_instances_that_may_carry_burned_in_identifiers_are_withheld(client, world, research):
    entry = research["clients"]["a"]
    headers = _token(client, entry)
    us = pseudo(entry[2], research["us"])
    response = client.get(_wado("instance", us), **headers)
    assert response.status_code == 403 and "burned-in" in response.json()["detail"]
    assert client.get(_wado("instance-metadata", us), **headers).status_code == 403
    # the study holds the MR and the ultrasound: only the MR leaves
    study = client.get(reverse("dicomweb:study", kwargs={"study": us[0]}), **headers)
    assert study.status_code == 200
    body = b"".join(study.streaming_content)
    (part,) = split(body, media_type_params(study["Content-Type"])[1]["boundary"])
    assert pydicom.dcmread(io.BytesIO(part.content)).Modality == "MR"
    png = client.get(reverse("imaging-api:scan-original", kwargs={"scan_id": research["png"].pk}), **headers)
    assert png.status_code == 403 and "PNG/JPEG" in png.json()["detail"]
    assert client.get(_wado("instance", uids(research["png"])), **headers).status_code == 404


def test_consent_decides_a_research_read(client, world, research):
    # the viewer client's consent is for treatment: nothing found, a retrieval refused and recorded
    treat_only = (world.client_id, world.client_secret, world.client_user)
    headers = _token(client, treat_only)
    assert client.get(reverse("dicomweb:studies"), **headers).json() == []
    response = client.get(_wado("instance-metadata", pseudo(world.client_user, world.ct)), **headers)
    assert response.status_code == 403
    event = AccessEvent.objects.filter(actor=world.client_user).latest("at")
    assert (event.purpose, event.allowed) == ("HRESCH", False)
    assert not EntryOpening.objects.filter(event_type="scan.deidentified").exists()
    download = client.get(reverse("imaging-api:scan-original", kwargs={"scan_id": world.ct.pk}), **headers)
    assert download.status_code == 403


def test_a_research_purpose_stores_nothing_and_cannot_match_dates(client, world, research):
    headers = _token(client, research["clients"]["a"])
    count = Scan.objects.count()
    from imaging.dicom import multipart

    body = multipart.encode([("application/dicom", make_dicom(seed="r"))], "b0")
    response = client.post(
        reverse("dicomweb:studies") + f"?patient={world.alice.pk}",
        body,
        content_type='multipart/related; type="application/dicom"; boundary=b0',
        **headers,
    )
    assert response.status_code == 403 and "does not store" in response.json()["detail"]
    assert Scan.objects.count() == count
    response = client.get(reverse("dicomweb:studies"), {"StudyDate": "20240101-20241231"}, **headers)
    assert response.status_code == 400 and "StudyDate" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_dicomweb_client_sees_a_problem_for_a_withheld_instance(live_server, client, world, research):
    client_id, secret, user = research["clients"]["a"]
    dw = bearer_client(live_server.url, client, client_id, secret, **{"X-Purpose-Of-Use": "HRESCH"})
    with pytest.raises(requests.HTTPError) as refused:
        dw.retrieve_instance(*pseudo(user, research["us"]))
    assert refused.value.response.status_code == 403
