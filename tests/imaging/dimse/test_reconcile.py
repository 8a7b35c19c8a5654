"""An instance whose DICOM Patient ID is linked to no patient answers Success and waits in the
reconciliation queue, sealed for the system key and attached to no one. A clinician of the
receiving organisation sees its DICOM name, ID and birth date at /scans/reconcile/ and attaches
it to the patient they choose, which runs the upload path (real worker, ledger) and links the
Patient ID for the instances that follow. Nothing is attached without that choice, and never to
a patient other than the one the Patient ID is linked to."""

from __future__ import annotations

import pytest
from django.urls import reverse

from imaging import blobs
from imaging.models import DicomPatientLink, PendingInstance, Scan
from portal.models import AccessEvent, Role, WrappedKey
from tests.factories import AuditorFactory, ClinicianFactory, PatientFactory, login_verified
from tests.imaging.conftest import blob_files
from tests.imaging.dimse.conftest import dicom_file, instance, storescu
from tests.imaging.test_pipeline import wait_done, wait_ledger

pytestmark = pytest.mark.django_db(transaction=True)

BOB = {"patient_id": "MRN-0777", "name": "Builder^Bob", "birth_date": "19800202"}


def queue(scp, tmp_path, *, seed: str, **patient) -> PendingInstance:
    before = set(PendingInstance.objects.values_list("pk", flat=True))
    run = storescu(scp, dicom_file(tmp_path, instance(seed=seed, **(patient or BOB))))
    assert run.statuses == [0x0000], run.output  # the sender's job is done
    (pending,) = PendingInstance.objects.exclude(pk__in=before)
    return pending


def attach(http, pending, patient, confirm="yes"):
    url = reverse("imaging:reconcile-attach", args=[pending.pk])
    return http.post(url, {"patient": str(patient.pk), "confirm": confirm})


def test_an_unmatched_instance_waits_sealed_and_attached_to_no_one(scp, site, tmp_path):
    pending = queue(scp, tmp_path, seed="unmatched")
    assert not Scan.objects.exists()
    assert (
        pending.organisation == site.organisation and pending.peer == site.peer and pending.modality == "MR"
    )
    assert not WrappedKey.objects.filter(object_id=pending.pk).exists()  # no patient, no wrap row
    ciphertext = blobs.store().get(pending.cid)
    for secret in (b"Builder", b"MRN-0777", b"19800202"):
        assert secret not in ciphertext
    assert not DicomPatientLink.objects.exclude(patient=site.alice).exists()
    log = scp.log()
    for secret in ("Builder", "MRN-0777", "19800202", "Secret", "MRN-0042"):
        assert secret not in log  # the SCP logged at DEBUG

    resent = storescu(scp, dicom_file(tmp_path, instance(seed="unmatched", **BOB)))
    assert resent.statuses == [0x0000] and PendingInstance.objects.count() == 1


def test_the_queue_shows_the_dicom_patient_to_the_organisations_clinicians_only(scp, site, tmp_path, client):
    queue(scp, tmp_path, seed="shown")
    page = login_verified(client, site.clinician).get(reverse("imaging:reconcile"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Builder, Bob" in body and "MRN-0777" in body and "1980-02-02" in body
    assert site.bob.username in body  # a patient the clinician may upload for

    client.logout()
    elsewhere = login_verified(client, ClinicianFactory()).get(reverse("imaging:reconcile"))
    assert elsewhere.status_code == 200 and "MRN-0777" not in elsewhere.content.decode()
    for outsider in (site.bob, AuditorFactory()):
        client.logout()
        login_verified(client, outsider)
        assert client.get(reverse("imaging:reconcile")).status_code == 403


@pytest.mark.worker
@pytest.mark.usefixtures("drained")
def test_attach_runs_the_upload_path_and_links_the_patient_id(celery_worker, scp, site, tmp_path, client):
    first = queue(scp, tmp_path, seed="group-1")
    second = queue(scp, tmp_path, seed="group-2")  # the same DICOM patient: attached together
    other = queue(scp, tmp_path, seed="stranger", patient_id="MRN-9999", name="Stranger^Sam")
    http = login_verified(client, site.clinician)

    refused = attach(http, first, site.bob, confirm="")
    assert refused.status_code == 400 and "Tick the box" in refused.content.decode()
    assert PendingInstance.objects.count() == 3 and not Scan.objects.exists()

    done = attach(http, first, site.bob)
    assert done.status_code == 302
    scans = list(Scan.objects.filter(patient=site.bob))
    assert len(scans) == 2 and {s.uploaded_by for s in scans} == {site.clinician}
    assert list(PendingInstance.objects.all()) == [other]  # another DICOM patient stays
    gone = {first.cid, second.cid}
    assert not gone & blob_files()
    link = DicomPatientLink.objects.get(organisation=site.organisation, patient=site.bob)
    assert link.created_by == site.clinician and link.patient_key == first.patient_key
    assert AccessEvent.objects.filter(
        actor=site.clinician, patient=site.bob, action="upload", allowed=True
    ).exists()
    for scan in scans:
        wait_ledger(wait_done(scan.pk))

    # the next instance of that Patient ID is filed directly, by the organisation's DICOM node
    run = storescu(scp, dicom_file(tmp_path, instance(seed="group-3", **BOB)))
    assert run.statuses == [0x0000]
    latest = Scan.objects.filter(patient=site.bob).order_by("-created_at").first()
    assert latest.uploaded_by.role == Role.DICOM_NODE and PendingInstance.objects.count() == 1
    wait_done(latest.pk)


def test_no_attach_to_another_patient_than_the_linked_one(scp, site, tmp_path, client):
    from imaging.dimse import matching

    pending = queue(scp, tmp_path, seed="conflict")
    DicomPatientLink.objects.create(  # linked meanwhile (another clinician's attach)
        organisation=site.organisation,
        patient=site.alice,
        patient_key=matching.key_of(organisation_id=site.organisation.pk, issuer="", patient_id="MRN-0777"),
    )
    response = attach(login_verified(client, site.clinician), pending, site.bob)
    assert response.status_code == 409 and "already linked to another patient" in response.content.decode()
    assert PendingInstance.objects.filter(pk=pending.pk).exists() and not Scan.objects.exists()


def test_only_the_receiving_organisation_and_a_permitted_patient(scp, site, tmp_path, client):
    pending = queue(scp, tmp_path, seed="scoped")
    outsider = ClinicianFactory()
    assert attach(login_verified(client, outsider), pending, site.bob).status_code == 404
    client.logout()
    no_consent = PatientFactory()  # has given the organisation nothing
    http = login_verified(client, site.clinician)
    assert attach(http, pending, no_consent).status_code == 404
    assert (
        http.post(reverse("imaging:reconcile-attach", args=[pending.pk]), {"confirm": "yes"}).status_code
        == 400
    )
    assert PendingInstance.objects.filter(pk=pending.pk).exists() and not Scan.objects.exists()
