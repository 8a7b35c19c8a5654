"""QIDO-RS: matching, includefield, limit/offset, bad queries (400 problems), and consent
scopes applied to studies and series as to scans."""

from __future__ import annotations

import pytest
from django.urls import reverse

from imaging.models import Study
from imaging.services import scan_upload
from portal.consent_services import consent_grant
from portal.models import AccessEvent, ScopeKind
from tests.factories import ClinicianFactory, login_verified
from tests.imaging.dicomweb.conftest import frame_pixels, make_dicom, uid

STUDY, SERIES, SOP, DATE = "0020000D", "0020000E", "00080018", "00080020"
MODALITIES, N_SERIES, N_INSTANCES = "00080061", "00201206", "00201208"


@pytest.fixture
def doc(client, world):
    login_verified(client, world.doc)
    return client


def found(response, tag=STUDY) -> list[str]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/dicom+json"
    return [item[tag]["Value"][0] for item in response.json()]


def studies(http, **params):
    return http.get(reverse("dicomweb:studies"), params)


@pytest.mark.parametrize(
    "params",
    [
        {"PatientName": "Secret*"},  # patient attributes are not kept in clear
        {"PatientID": "MRN-0042"},
        {"NoSuchAttribute": "1"},
        {"00191099": "1"},  # a private tag
        {"StudyDate": "2024-03-15"},
        {"StudyDate": "20241315"},
        {"StudyDate": "20240401-20240301"},
        {"StudyDate": "-"},
        {"StudyInstanceUID": "1.2.*"},
        {"SOPInstanceUID": "1.2.3"},  # not a study-level key
        {"Modality": "C*"},
        {"limit": "0"},
        {"offset": "-1"},
        {"fuzzymatching": "maybe"},
        {"includefield": "NotAnAttribute"},
    ],
)
def test_a_bad_query_is_a_400_problem_naming_it(doc, world, params):
    before = AccessEvent.objects.count()
    response = studies(doc, **params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"]
    assert AccessEvent.objects.count() == before  # refused before any patient is looked at


def test_matching_on_date_ranges_uids_modality_and_tags(doc, world):
    mr = world.multiframe.series.study.study_instance_uid
    ct = world.ct.series.study.study_instance_uid
    assert set(found(studies(doc))) == {mr, ct}
    assert found(studies(doc, StudyDate="20240315")) == [mr]
    assert found(studies(doc, StudyDate="20240101-")) == [mr]
    assert found(studies(doc, StudyDate="-20100101")) == [ct]  # CT_small is of 2004
    assert found(studies(doc, StudyDate="20250101-20251231")) == []
    assert found(studies(doc, ModalitiesInStudy="ct")) == [ct]
    assert found(studies(doc, **{"00080061": "MR"})) == [mr]  # by tag
    assert found(studies(doc, StudyInstanceUID=f"{ct},{mr}", fuzzymatching="true")) != []
    series = found(doc.get(reverse("dicomweb:series"), {"Modality": "MR"}), SERIES)
    assert series == [world.multiframe.series.series_instance_uid]
    sop = world.multiframe.sop_instance_uid
    assert found(doc.get(reverse("dicomweb:instances"), {"SOPInstanceUID": sop}), SOP) == [sop]


def test_accession_number_matches_exactly_without_being_stored(doc, world):
    scan = scan_upload(
        uploader=world.doc,
        patient=world.alice,
        file=make_dicom(seed="acc", accession="ACC-991"),
        file_name="a.dcm",
    )
    study = Study.objects.get(pk=scan.series.study_id)
    assert study.accession_hash and "ACC-991" not in study.accession_hash
    response = studies(doc, AccessionNumber="ACC-991")
    assert found(response) == [study.study_instance_uid]
    assert response.json()[0]["00080050"]["Value"] == ["ACC-991"]  # the matched value, echoed
    assert found(studies(doc, AccessionNumber="ACC-992")) == []


def test_includefield_limit_offset_and_the_warning(doc, world):
    rows = studies(doc, limit="1").json()
    assert len(rows) == 1 and "additional results" in studies(doc, limit="1")["Warning"]
    second = studies(doc, limit="1", offset="1").json()
    assert len(second) == 1 and second[0][STUDY] != rows[0][STUDY]
    instances = doc.get(reverse("dicomweb:instances"), {"includefield": "StudyDate"}).json()
    assert all(DATE in item for item in instances)
    assert all(DATE not in item for item in doc.get(reverse("dicomweb:instances")).json())
    everything = doc.get(reverse("dicomweb:instances"), {"includefield": "all"}).json()
    assert all("00200011" in item for item in everything)  # SeriesNumber


def test_a_modality_scoped_consent_shows_only_the_instances_it_covers(client, world):
    """A study of two series (CT and MR): a CT-only consent sees the study with its CT series
    and instance, counted as such; the MR series is not there."""
    study = uid("two modalities")
    scan_upload(
        uploader=world.doc,
        patient=world.alice,
        file=make_dicom(seed="s-ct", study=study, series=uid("s-ct"), modality="CT", pixels=frame_pixels(1)),
    )
    scan_upload(
        uploader=world.doc,
        patient=world.alice,
        file=make_dicom(seed="s-mr", study=study, series=uid("s-mr"), modality="MR", pixels=frame_pixels(1)),
    )
    radiographer = ClinicianFactory()
    consent_grant(
        patient=world.alice,
        grantee_user=radiographer,
        actions=["view"],
        purposes=["TREAT"],
        scope_kind=ScopeKind.FILTER,
        scope_modality="CT",
    )
    login_verified(client, radiographer)
    rows = {item[STUDY]["Value"][0]: item for item in studies(client).json()}
    assert study in rows and world.multiframe.series.study.study_instance_uid not in rows
    assert rows[study][MODALITIES]["Value"] == ["CT"]
    assert rows[study][N_SERIES]["Value"] == [1] and rows[study][N_INSTANCES]["Value"] == [1]
    assert found(client.get(reverse("dicomweb:study-series", args=[study])), SERIES) == [uid("s-ct")]
    assert found(studies(client, ModalitiesInStudy="MR")) == []


def test_a_listed_scans_consent_shows_that_scan_only(client, world):
    reader = ClinicianFactory()
    consent_grant(
        patient=world.alice,
        grantee_user=reader,
        actions=["view"],
        purposes=["TREAT"],
        scope_kind=ScopeKind.LISTED,
        scope_scan_ids=[str(world.ct.pk)],
    )
    login_verified(client, reader)
    assert found(studies(client)) == [world.ct.series.study.study_instance_uid]
    assert found(client.get(reverse("dicomweb:instances")), SOP) == [world.ct.sop_instance_uid]


def test_a_search_records_one_list_decision_per_patient(doc, world):
    before = set(AccessEvent.objects.values_list("pk", flat=True))
    assert len(found(studies(doc))) == 2
    events = AccessEvent.objects.exclude(pk__in=before)
    assert [(e.actor_id, e.action, e.patient_id, e.allowed) for e in events] == [
        (world.doc.pk, "list", world.alice.pk, True)
    ]
