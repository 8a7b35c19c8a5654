"""Study-level C-FIND answers from the QIDO-RS selectors as the peer's organisation: the studies
of patients whose consent covers the organisation, each search recorded per patient; a PatientID
key finds the patient it is linked to and no one else; a level other than STUDY or a key that
cannot be matched fails with the standard's status."""

from __future__ import annotations

import re

import pytest

from imaging.services import scan_upload
from portal.consent_services import consent_grant
from portal.models import AccessEvent, Role
from tests.factories import ClinicianFactory, PatientFactory
from tests.imaging.dicomweb.conftest import frame_pixels, make_dicom
from tests.imaging.dimse.conftest import MRN, findscu

pytestmark = pytest.mark.django_db(transaction=True)
RESULT = re.compile(r"Find SCP Result: 0x([0-9A-F]{4})")


@pytest.fixture
def studies(site):
    """A study each for Alice (linked MRN) and Bob (consenting, no link), and one for Carol, who
    consents to a clinician of another organisation only."""
    carol, elsewhere = PatientFactory(username="carol-dimse"), ClinicianFactory()
    consent_grant(patient=carol, grantee_user=elsewhere, actions=["view", "upload"], purposes=["TREAT"])
    made = {}
    for name, patient, uploader in (
        ("alice", site.alice, site.clinician),
        ("bob", site.bob, site.clinician),
        ("carol", carol, elsewhere),
    ):
        data = make_dicom(
            seed=f"find-{name}", pixels=frame_pixels(1), modality="CT" if name == "bob" else "MR"
        )
        scan = scan_upload(uploader=uploader, patient=patient, file=data, file_name="x.dcm")
        made[name] = scan.series.study.study_instance_uid
    return made


def result(run) -> int:
    (status,) = RESULT.findall(run.output)
    return int(status, 16)


def test_study_search_returns_only_what_the_organisation_may_see(scp, site, studies, tmp_path):
    run, found = findscu(
        scp,
        tmp_path,
        "QueryRetrieveLevel=STUDY",
        "StudyInstanceUID=",
        "StudyDate=",
        "PatientID=",
        "PatientName=",
        "ModalitiesInStudy=",
        "NumberOfStudyRelatedInstances=",
    )
    assert result(run) == 0x0000, run.output
    by_uid = {ds.StudyInstanceUID: ds for ds in found}
    assert set(by_uid) == {studies["alice"], studies["bob"]}  # not Carol's
    bob = by_uid[studies["bob"]]
    assert bob.ModalitiesInStudy == "CT" and bob.NumberOfStudyRelatedInstances == 1
    assert bob.StudyDate == "20240315" and bob.QueryRetrieveLevel == "STUDY"
    assert bob.PatientID == "" and bob.PatientName == ""  # not stored in clear: returned empty
    node_lists = AccessEvent.objects.filter(actor__role=Role.DICOM_NODE, action="list", allowed=True)
    assert set(node_lists.values_list("patient", flat=True)) == {site.alice.pk, site.bob.pk}


def test_matching_keys(scp, site, studies, tmp_path):
    run, found = findscu(scp, tmp_path, "QueryRetrieveLevel=STUDY", f"PatientID={MRN}", "StudyInstanceUID=")
    assert result(run) == 0x0000
    assert [(ds.StudyInstanceUID, ds.PatientID) for ds in found] == [(studies["alice"], MRN)]

    run, found = findscu(
        scp, tmp_path, "QueryRetrieveLevel=STUDY", "PatientID=MRN-NOBODY", "StudyInstanceUID="
    )
    assert result(run) == 0x0000 and found == []

    run, found = findscu(
        scp, tmp_path, "QueryRetrieveLevel=STUDY", "ModalitiesInStudy=CT", "StudyInstanceUID="
    )
    assert [ds.StudyInstanceUID for ds in found] == [studies["bob"]]

    run, found = findscu(
        scp,
        tmp_path,
        "QueryRetrieveLevel=STUDY",
        f"StudyInstanceUID={studies['carol']}",
        "StudyDate=20240101-20241231",
    )
    assert result(run) == 0x0000 and found == []  # Carol's study exists, but not for this organisation


@pytest.mark.parametrize(
    ("keys", "status"),
    [
        (("QueryRetrieveLevel=PATIENT", "PatientID="), 0xA900),
        (("QueryRetrieveLevel=STUDY", "PatientName=Secret*"), 0xC000),
        (("QueryRetrieveLevel=STUDY", "PatientID=MRN*"), 0xC000),
        (("QueryRetrieveLevel=STUDY", "StudyDate=20241301"), 0xC000),
        (("QueryRetrieveLevel=STUDY", "StudyDescription=Head"), 0xC000),
    ],
)
def test_identifiers_that_cannot_be_answered_fail(scp, site, studies, tmp_path, keys, status):
    run, found = findscu(scp, tmp_path, *keys)
    assert result(run) == status and found == []
    assert scp.alive()


def test_an_unknown_caller_cannot_search(scp, site, studies, tmp_path):
    run, found = findscu(scp, tmp_path, "QueryRetrieveLevel=STUDY", "StudyInstanceUID=", aet="SNOOPER")
    assert run.rejected and found == []
