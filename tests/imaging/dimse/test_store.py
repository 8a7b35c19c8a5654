"""C-STORE from a known peer for a linked patient: the instance enters the upload path of the
web form, the API and STOW-RS as the organisation's DICOM node, is processed by the real worker
and registered on the ledger. A resend changes nothing; a patient whose consent does not cover
the organisation's uploads is refused (0x0124) with nothing kept."""

from __future__ import annotations

import hashlib

import pytest

from imaging.models import PendingInstance, Scan
from portal.consent_services import consent_revoke
from portal.models import AccessEvent, Consent, Role, WrappedKey
from tests.imaging.conftest import blob_files
from tests.imaging.dimse.conftest import dicom_file, instance, storescu
from tests.imaging.test_pipeline import wait_done, wait_ledger

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drained")]


def test_a_stored_instance_of_a_linked_patient_is_processed_and_on_the_ledger(
    celery_worker, scp, site, tmp_path
):
    data = instance(seed="store-1")
    run = storescu(scp, dicom_file(tmp_path, data))
    assert run.statuses == [0x0000], run.output

    scan = Scan.objects.select_related("uploaded_by", "series__study").get()
    assert scan.patient == site.alice and not PendingInstance.objects.exists()
    node = scan.uploaded_by
    assert node.role == Role.DICOM_NODE and node.organisation == site.organisation
    assert not node.has_usable_password()
    # what was received is what is stored: the data set as sent, in a Part 10 file
    import pydicom

    received = pydicom.dcmread(dicom_file(tmp_path, data))
    assert scan.sop_instance_uid == received.SOPInstanceUID
    assert scan.series.study.study_instance_uid == received.StudyInstanceUID

    done = wait_done(scan.pk)
    entry = wait_ledger(done)
    assert entry.event_type == "scan.registered"
    decision = AccessEvent.objects.get(actor=node, action="upload")
    assert decision.allowed and decision.patient == site.alice and decision.purpose == "TREAT"
    assert decision.consent.grantee_org == site.organisation
    # the node reads nothing: wraps for the system, the patient and the organisation's clinician
    readers = set(
        WrappedKey.objects.filter(object_id__in=done.blobs.values("id")).values_list("reader", flat=True)
    )
    assert node.pk not in readers and {None, site.alice.pk, site.clinician.pk} <= readers

    again = storescu(scp, dicom_file(tmp_path, data))  # a modality retrying after a lost response
    assert again.statuses == [0x0000] and Scan.objects.count() == 1


def test_two_instances_in_one_association(celery_worker, scp, site, tmp_path):
    files = [dicom_file(tmp_path, instance(seed=f"pair-{i}")) for i in range(2)]
    run = storescu(scp, *files)
    assert run.statuses == [0x0000, 0x0000]
    scans = list(Scan.objects.all())
    assert len(scans) == 2 and {s.patient for s in scans} == {site.alice}
    for scan in scans:
        wait_done(scan.pk)


def test_no_consent_for_the_organisation_refuses_the_store(scp, site, tmp_path):
    consent = Consent.objects.get(patient=site.alice, grantee_org=site.organisation, is_current=True)
    consent_revoke(actor=site.alice, consent=consent)
    blobs = blob_files()
    run = storescu(scp, dicom_file(tmp_path, instance(seed="revoked")))
    assert run.statuses == [0x0124], run.output
    assert not Scan.objects.exists() and not PendingInstance.objects.exists() and blob_files() == blobs
    refused = AccessEvent.objects.get(action="upload")
    assert not refused.allowed and refused.reason == "consent_revoked"


def test_the_same_sop_instance_with_other_content_is_refused(scp, site, tmp_path):
    first = instance(seed="dup")
    assert storescu(scp, dicom_file(tmp_path, first)).statuses == [0x0000]
    other = instance(seed="dup", name="Other^Content")  # same UIDs, other bytes
    assert hashlib.sha256(other).digest() != hashlib.sha256(first).digest()
    run = storescu(scp, dicom_file(tmp_path, other))
    assert run.statuses == [0x0111]
    assert Scan.objects.count() == 1
