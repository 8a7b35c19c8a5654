"""FHIR beside DICOMweb: an ImagingStudy per study (with the DICOMweb Endpoint) and a
DiagnosticReport for a scan's diagnosis (naming the model and version; a QCNN result is a
simulation), validated with fhir.resources, under the patient's consent and recorded."""

from __future__ import annotations

import pytest
from django.urls import reverse
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.imagingstudy import ImagingStudy

from imaging.services import scan_upload
from portal.consent_services import consent_grant
from portal.models import AccessEvent, ScopeKind
from tests.api.conftest import stored_scan
from tests.factories import ClinicianFactory, PatientFactory, login_verified
from tests.imaging.conftest import dicom_bytes
from tests.imaging.dicomweb.conftest import make_dicom

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    alice, doc = PatientFactory(), ClinicianFactory()
    consent_grant(patient=alice, grantee_user=doc, actions=["view", "download", "upload"], purposes=["TREAT"])
    ct = scan_upload(uploader=doc, patient=alice, file=dicom_bytes("CT_small.dcm"), file_name="ct.dcm")
    mr = scan_upload(uploader=doc, patient=alice, file=make_dicom(seed="fhir"), file_name="mr.dcm")
    diagnosed, _ = stored_scan(alice, uploader=doc)
    return {"alice": alice, "doc": doc, "ct": ct, "mr": mr, "diagnosed": diagnosed}


def study_url(scan) -> str:
    return reverse("imaging-api:fhir-imaging-study", kwargs={"study_id": scan.series.study_id})


def report_url(scan) -> str:
    return reverse("imaging-api:fhir-diagnostic-report", kwargs={"scan_id": scan.pk})


def test_imaging_study_validates_and_names_the_dicomweb_endpoint(client, world):
    login_verified(client, world["doc"])
    ct = world["ct"]
    response = client.get(study_url(ct), HTTP_ACCEPT="application/fhir+json")
    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    study = ImagingStudy.model_validate(response.json())  # raises on invalid FHIR
    assert study.id == str(ct.series.study_id)
    assert study.identifier[0].value == f"urn:oid:{ct.series.study.study_instance_uid}"
    assert study.subject.reference == f"Patient/{world['alice'].pk}"
    (endpoint,) = study.contained
    assert endpoint.get_resource_type() == "Endpoint" and endpoint.address == "http://testserver/dicomweb"
    assert study.endpoint[0].reference == "#dicomweb"
    (series,) = study.series
    assert series.uid == ct.series.series_instance_uid and series.modality.code == "CT"
    assert [i.uid for i in series.instance] == [ct.sop_instance_uid]
    assert study.numberOfInstances == 1
    event = AccessEvent.objects.filter(actor=world["doc"]).latest("at")
    assert (event.scan_id, event.action, event.allowed) == (ct.pk, "view", True)


def test_diagnostic_report_names_the_model_and_version(client, world):
    login_verified(client, world["doc"])
    scan = world["diagnosed"]
    response = client.get(report_url(scan))
    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    report = DiagnosticReport.model_validate(response.json())
    device, observation = report.contained
    assert device.deviceName[0].name == "classical" and device.version[0].value == "1.0.0"
    assert observation.device.reference == "#model" and report.result[0].reference == "#result"
    assert observation.valueCodeableConcept.coding[0].code == "normal"
    assert "model classical version 1.0.0" in report.conclusion and report.meta is None


def test_a_qcnn_result_is_a_simulation_label(client, world):
    login_verified(client, world["doc"])
    scan = world["diagnosed"]
    scan.model_id, scan.model_version = "pneumonia-qcnn8-1.0.0", "1.0.0"
    scan.save(update_fields=["model_id", "model_version"])
    report = DiagnosticReport.model_validate(client.get(report_url(scan)).json())
    assert report.meta.tag[0].code == "simulation"
    assert report.conclusion.startswith(
        "Simulation label 'normal' from model pneumonia-qcnn8-1.0.0 version 1.0.0"
    )
    assert "not a clinical finding" in report.conclusion


def test_consent_decides_and_is_recorded(client, world):
    reader = ClinicianFactory()
    consent_grant(
        patient=world["alice"],
        grantee_user=reader,
        actions=["view"],
        purposes=["TREAT"],
        scope_kind=ScopeKind.FILTER,
        scope_modality="CT",
    )
    login_verified(client, reader)
    assert client.get(study_url(world["ct"])).status_code == 200
    refused = client.get(study_url(world["mr"]))
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    event = AccessEvent.objects.filter(actor=reader).latest("at")
    assert (event.scan_id, event.allowed) == (world["mr"].pk, False)

    login_verified(client, ClinicianFactory())  # no consent: nothing exists
    assert client.get(study_url(world["ct"])).status_code == 404
    assert client.get(report_url(world["diagnosed"])).status_code == 404
    assert (
        client.get(reverse("imaging-api:fhir-imaging-study", kwargs={"study_id": "nope"})).status_code == 404
    )


def test_a_research_purpose_gets_no_identified_fhir_resource(client, world):
    researcher = ClinicianFactory()
    consent_grant(patient=world["alice"], grantee_user=researcher, actions=["view"], purposes=["HRESCH"])
    login_verified(client, researcher)
    for url in (study_url(world["ct"]), report_url(world["diagnosed"])):
        response = client.get(url, HTTP_X_PURPOSE_OF_USE="HRESCH")
        assert response.status_code == 403 and "de-identified" in response.json()["detail"]
        assert client.get(url).status_code == 403  # the research consent does not cover treatment


def test_a_scan_without_a_diagnosis_has_no_report_yet(client, world):
    login_verified(client, world["doc"])
    response = client.get(report_url(world["ct"]))  # uploaded, no worker ran
    assert response.status_code == 409 and "no diagnosis yet" in response.json()["detail"]
