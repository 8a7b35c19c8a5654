"""The pure DIMSE pieces: the keyed patient identifier, study-level C-FIND identifiers and their
responses, Error Comments."""

from __future__ import annotations

import warnings

import pytest
from pydicom.dataset import Dataset

from imaging.dicom import dimse

KEY = b"k" * 32


def key(**kw) -> str:
    args = {"organisation_id": "org-1", "issuer": "", "patient_id": "MRN-1", **kw}
    return dimse.patient_key(KEY, **args)


def test_patient_key_is_keyed_scoped_and_ignores_padding():
    assert len(key()) == 64 and key() == key(patient_id="  MRN-1 ")
    assert key() != key(organisation_id="org-2")  # one organisation's ID says nothing of another's
    assert key() != key(issuer="HOSP-A")
    assert key() != dimse.patient_key(b"x" * 32, organisation_id="org-1", issuer="", patient_id="MRN-1")
    assert key(patient_id="") == "" and key(patient_id="   ") == ""
    # parts are length-prefixed: moving a character between them changes the key
    assert key(issuer="A", patient_id="BC") != key(issuer="AB", patient_id="C")


def identifier(**elements) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = elements.pop("QueryRetrieveLevel", "STUDY")
    with warnings.catch_warnings():  # pydicom warns of the malformed values some tests send
        warnings.simplefilter("ignore", UserWarning)
        for keyword, value in elements.items():
            setattr(ds, keyword, value)
    return ds


def test_a_study_identifier_becomes_a_qido_query():
    request = dimse.study_request(
        identifier(
            PatientID="MRN-1",
            IssuerOfPatientID="HOSP",
            PatientName="*",
            StudyDate="20240101-20241231",
            ModalitiesInStudy="CT",
            StudyInstanceUID="",
            NumberOfStudyRelatedInstances="",
        )
    )
    assert request.patient_id == "MRN-1" and request.issuer == "HOSP"
    assert request.query.level == "study"
    assert set(request.query.match) == {"StudyDate", "ModalitiesInStudy"}
    assert request.requested == (  # in tag order, as pydicom iterates
        "StudyDate",
        "ModalitiesInStudy",
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "StudyInstanceUID",
        "NumberOfStudyRelatedInstances",
    )


def test_a_uid_list_matches_any_of_them():
    request = dimse.study_request(identifier(StudyInstanceUID=["1.2.3", "1.2.4"]))
    assert request.query.match["StudyInstanceUID"] == frozenset({"1.2.3", "1.2.4"})


@pytest.mark.parametrize(
    ("elements", "status", "words"),
    [
        ({"QueryRetrieveLevel": "SERIES"}, dimse.DATA_SET_DOES_NOT_MATCH, "STUDY level"),
        ({"QueryRetrieveLevel": ""}, dimse.DATA_SET_DOES_NOT_MATCH, "STUDY level"),
        ({"PatientName": "Smith*"}, dimse.CANNOT_UNDERSTAND, "PatientName"),
        ({"PatientID": "MRN*"}, dimse.CANNOT_UNDERSTAND, "wildcards"),
        ({"StudyDate": "2024"}, dimse.CANNOT_UNDERSTAND, "YYYYMMDD"),
        ({"StudyInstanceUID": "1.2.abc"}, dimse.CANNOT_UNDERSTAND, "not a valid UID"),
        ({"SeriesInstanceUID": "1.2.3"}, dimse.CANNOT_UNDERSTAND, "SeriesInstanceUID"),
    ],
)
def test_identifiers_that_cannot_be_answered(elements, status, words):
    with pytest.raises(dimse.FindError, match=words) as caught:
        dimse.study_request(identifier(**elements))
    assert caught.value.status == status


def test_a_response_carries_every_requested_key():
    request = dimse.study_request(
        identifier(PatientID="MRN-1", PatientName="", StudyInstanceUID="", ModalitiesInStudy="", StudyTime="")
    )
    row = {"StudyInstanceUID": "1.2.3", "ModalitiesInStudy": ["CT", "MR"], "StudyDate": "20240315"}
    ds = dimse.study_response(row, request)
    assert ds.QueryRetrieveLevel == "STUDY" and ds.StudyInstanceUID == "1.2.3"
    assert list(ds.ModalitiesInStudy) == ["CT", "MR"]
    assert ds.PatientID == "MRN-1"  # the caller's own, echoed
    assert ds.PatientName == "" and ds.StudyTime == ""  # not kept: empty
    assert "StudyDate" not in ds  # not asked for


def test_error_comments_fit_lo():
    assert dimse.error_comment("short") == "short"
    long = dimse.error_comment("é" * 100 + "\\")
    assert len(long) == 64 and long.isascii() and "\\" not in long
