"""Imaging as HL7 FHIR R4 resources (JSON dicts), beside DICOMweb: an ImagingStudy per study,
with the portal's DICOMweb service as its Endpoint, and a DiagnosticReport per diagnosed scan,
naming the model and version that made the result.

The consent side has its FHIR resource (Consent, portal.fhir); both use its code system root.
Reads here are decided by the policy like every other read (`study_instances`, and the scan
API's `view` for a report). Identifiers are the portal's: ``ImagingStudy/<study id>``,
``DiagnosticReport/<scan id>``, ``Patient/<patient id>``, as in portal.fhir.

A diagnosis by the quantum convolutional network (QCNN) is a classical simulation of a quantum
circuit: its report is tagged and worded as a simulation result, not a clinical finding.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from core.api.errors import ApiError
from imaging.models import DiagnosisModel, ModelKind, Scan, ScanStatus, Study
from imaging.permissions import authorize, decision_message
from portal.fhir import QMC

DCM = "http://dicom.nema.org/resources/ontology/DCM"
MEDIA_TYPE = "application/fhir+json"
NOT_FOUND = "No such study or scan, or you have no access to it."
SIMULATION_TAG = {
    "system": f"{QMC}/result-kind",
    "code": "simulation",
    "display": "Result of a simulated quantum model, not a clinical finding",
}


def _iso(dt) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _uid(uid: str) -> str:
    return f"urn:oid:{uid}"


def _modality(code: str) -> dict[str, str]:
    return {"system": DCM, "code": (code or "OT").upper()}


# --- reads, decided by the policy


def study_instances(*, actor, purpose: str, study_id: str) -> tuple[Study, list[Scan]]:
    """The study and those of its instances the caller may `view`, each decision recorded
    (one per instance served, or one refusal); a problem when there is none."""
    try:
        pk = uuid.UUID(str(study_id))
    except ValueError:
        raise ApiError(NOT_FOUND, 404) from None
    study = Study.objects.filter(pk=pk).select_related("patient").first()
    candidates = list(
        Scan.objects.filter(series__study_id=pk)
        .select_related("series__study", "patient")
        .order_by("-created_at", "id")
    )
    if study is None or not candidates:
        raise ApiError(NOT_FOUND, 404)
    seen: dict[str, Scan] = {}
    for scan in candidates:  # newest first: one scan per SOP Instance UID
        if authorize(actor=actor, action="view", scan=scan, purpose=purpose, record=False).allowed:
            seen.setdefault(scan.sop_instance_uid, scan)
    served = [
        s for s in seen.values() if authorize(actor=actor, action="view", scan=s, purpose=purpose).allowed
    ]
    if not served:
        decision = authorize(actor=actor, action="view", scan=candidates[0], purpose=purpose)
        status = decision.status_code or 403
        raise ApiError(NOT_FOUND if status == 404 else decision_message(decision, "view"), status)
    return study, served


def model_of(scan: Scan) -> DiagnosisModel | None:
    if not scan.model_id:
        return None
    return DiagnosisModel.objects.filter(model_id=scan.model_id, version=scan.model_version).first()


# --- resources


def dicomweb_endpoint(address: str) -> dict[str, Any]:
    return {
        "resourceType": "Endpoint",
        "id": "dicomweb",
        "status": "active",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "dicom-wado-rs",
            "display": "DICOM WADO-RS",
        },
        "name": "QMedChain DICOMweb (QIDO-RS, WADO-RS, STOW-RS), under the patient's consent",
        "payloadType": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "code": "DICOM"}
                ]
            }
        ],
        "payloadMimeType": ["application/dicom"],
        "address": address,
    }


def imaging_study(study: Study, scans: Iterable[Scan], *, dicomweb: str) -> dict[str, Any]:
    """The ImagingStudy of `study` with the instances in `scans` (those the caller may see);
    `dicomweb` is the absolute URL of /dicomweb."""
    series: dict[str, dict[str, Any]] = {}
    for scan in sorted(
        scans, key=lambda s: (s.series.series_number or 0, s.instance_number or 0, s.sop_instance_uid)
    ):
        row = series.setdefault(
            scan.series.series_instance_uid,
            {
                "uid": scan.series.series_instance_uid,
                **({"number": scan.series.series_number} if scan.series.series_number is not None else {}),
                "modality": _modality(scan.series.modality),
                "numberOfInstances": 0,
                "endpoint": [{"reference": "#dicomweb"}],
                "instance": [],
            },
        )
        row["numberOfInstances"] += 1
        instance: dict[str, Any] = {
            "uid": scan.sop_instance_uid,
            "sopClass": {"system": "urn:ietf:rfc:3986", "code": _uid(scan.sop_class_uid)},
        }
        if scan.instance_number is not None:
            instance["number"] = scan.instance_number
        row["instance"].append(instance)
    modalities = sorted({s["modality"]["code"] for s in series.values()})
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": str(study.pk),
        "contained": [dicomweb_endpoint(dicomweb)],
        "identifier": [{"system": "urn:dicom:uid", "value": _uid(study.study_instance_uid)}],
        "status": "available",
        "modality": [_modality(m) for m in modalities],
        "subject": {"reference": f"Patient/{study.patient_id}"},
        "endpoint": [{"reference": "#dicomweb"}],
        "numberOfSeries": len(series),
        "numberOfInstances": sum(s["numberOfInstances"] for s in series.values()),
        "series": list(series.values()),
    }
    if study.study_date:
        resource["started"] = study.study_date.isoformat()
    return resource


def diagnostic_report(scan: Scan, model: DiagnosisModel | None) -> dict[str, Any]:
    """The DiagnosticReport of a diagnosed scan: its result an Observation made by the model
    (a Device naming the model id and version), both contained."""
    if scan.status == ScanStatus.FAILED:
        raise ApiError(f"Processing failed, so there is no diagnosis: {scan.failure_reason}", 409)
    if scan.status != ScanStatus.DONE or not (scan.diagnosis_label or scan.diagnosis_applicable is False):
        raise ApiError(f"The scan is still being processed ({scan.status}); no diagnosis yet.", 409)
    if scan.diagnosis_applicable is False:
        return _not_applicable_report(scan)
    simulated = model.kind == ModelKind.QCNN if model is not None else "qcnn" in scan.model_id
    label = scan.diagnosis_label
    probability = scan.diagnosis_probability
    made_by = f"model {scan.model_id} version {scan.model_version}"
    if simulated:
        conclusion = (
            f"Simulation label '{label}' from {made_by}, a quantum convolutional network run on a "
            "classical simulator: a research simulation, not a clinical finding."
        )
    else:
        conclusion = f"Automated classification '{label}' by {made_by}; to be read by a clinician."
    code = {
        "coding": [{"system": "http://loinc.org", "code": "18748-4", "display": "Diagnostic imaging study"}],
        "text": "Automated image classification",
    }
    device: dict[str, Any] = {
        "resourceType": "Device",
        "id": "model",
        "deviceName": [{"name": scan.model_id, "type": "model-name"}],
        "type": {
            "text": "Quantum convolutional network (simulated)" if simulated else "Classical classifier"
        },
        "version": [{"value": scan.model_version}],
    }
    if scan.model_sha256:
        device["identifier"] = [{"system": f"{QMC}/model-sha256", "value": scan.model_sha256}]
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "result",
        "status": "final",
        "code": code,
        "subject": {"reference": f"Patient/{scan.patient_id}"},
        "valueCodeableConcept": {
            "coding": [{"system": f"{QMC}/diagnosis-label", "code": label}],
            "text": f"{label} (simulation)" if simulated else label,
        },
        "device": {"reference": "#model"},
    }
    if probability is not None:
        observation["component"] = [
            {
                "code": {"coding": [{"system": f"{QMC}/diagnosis", "code": "probability"}]},
                "valueQuantity": {
                    "value": round(probability, 6),
                    "unit": "1",
                    "system": "http://unitsofmeasure.org",
                    "code": "1",
                },
            }
        ]
    resource: dict[str, Any] = {
        **_report_head(scan, device, observation, code),
        "conclusion": conclusion,
        "conclusionCode": [{"coding": [{"system": f"{QMC}/diagnosis-label", "code": label}]}],
    }
    if simulated:
        resource["meta"] = {"tag": [SIMULATION_TAG]}
        observation["meta"] = {"tag": [SIMULATION_TAG]}
    if scan.series_id is not None:
        resource["imagingStudy"] = [{"reference": f"ImagingStudy/{scan.series.study_id}"}]
    return resource


NOT_APPLICABLE_CODE = "not-applicable"


def _not_applicable_report(scan: Scan) -> dict[str, Any]:
    """The DiagnosticReport of a scan the applicability gate refused (not a chest X-ray): its
    conclusion says so, and its Observation has no value (dataAbsentReason "not-applicable")."""
    code = {
        "coding": [{"system": "http://loinc.org", "code": "18748-4", "display": "Diagnostic imaging study"}],
        "text": "Automated image classification",
    }
    not_applicable = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                "code": "not-applicable",
                "display": "Not Applicable",
            }
        ],
        "text": scan.diagnosis_reason,
    }
    device: dict[str, Any] = {
        "resourceType": "Device",
        "id": "model",
        "deviceName": [{"name": scan.model_id, "type": "model-name"}],
        "version": [{"value": scan.model_version}],
    }
    if scan.model_sha256:
        device["identifier"] = [{"system": f"{QMC}/model-sha256", "value": scan.model_sha256}]
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "result",
        "status": "final",
        "code": code,
        "subject": {"reference": f"Patient/{scan.patient_id}"},
        "dataAbsentReason": not_applicable,
        "device": {"reference": "#model"},
    }
    resource: dict[str, Any] = {
        **_report_head(scan, device, observation, code),
        "conclusion": f"{scan.diagnosis_reason}. No pneumonia classification was made.",
        "conclusionCode": [{"coding": [{"system": f"{QMC}/diagnosis-label", "code": NOT_APPLICABLE_CODE}]}],
    }
    if scan.series_id is not None:
        resource["imagingStudy"] = [{"reference": f"ImagingStudy/{scan.series.study_id}"}]
    return resource


def _report_head(scan, device: dict, observation: dict, code: dict) -> dict[str, Any]:
    """What every DiagnosticReport of a scan starts with (diagnosed or not applicable)."""
    return {
        "resourceType": "DiagnosticReport",
        "id": str(scan.pk),
        "contained": [device, observation],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                        "code": "RAD",
                        "display": "Radiology",
                    }
                ]
            }
        ],
        "code": code,
        "subject": {"reference": f"Patient/{scan.patient_id}"},
        "issued": _iso(scan.updated_at),
        "result": [{"reference": "#result"}],
    }
