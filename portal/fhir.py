"""Consent contract → HL7 FHIR R4 Consent resource (JSON dict). No Django queries beyond the row."""

from portal.models import Consent

QMC = "https://qmedchain.example/fhir/CodeSystem"
ACTION_CODES = {"view": "access", "download": "use", "upload": "collect"}
STATUS = {"active": "active", "inactive": "inactive", "rejected": "rejected"}


def _iso(dt) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def consent_to_fhir(consent: Consent) -> dict:
    if consent.grantee_user_id:
        kind = "Device" if consent.grantee_user.role == "api_client" else "Practitioner"
        grantee_ref = {"reference": f"{kind}/{consent.grantee_user_id}", "display": consent.grantee_label()}
    else:
        grantee_ref = {
            "reference": f"Organization/{consent.grantee_org_id}",
            "display": consent.grantee_org.name,
        }
    period = {"start": _iso(consent.start)}
    if consent.end:
        period["end"] = _iso(consent.end)
    provision: dict = {
        "type": "permit",
        "period": period,
        "actor": [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                            "display": "information recipient",
                        }
                    ]
                },
                "reference": grantee_ref,
            }
        ],
        "action": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                        "code": ACTION_CODES[a],
                    },
                    {"system": f"{QMC}/action", "code": a},
                ]
            }
            for a in consent.actions
        ],
        "purpose": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": p}
            for p in consent.purposes
        ],
    }
    if consent.scope_kind == "listed":
        provision["data"] = [
            {"meaning": "instance", "reference": {"reference": f"ImagingStudy/{sid}"}}
            for sid in consent.scope_scan_ids
        ]
    elif consent.scope_kind == "filter":
        if consent.scope_modality:
            provision["code"] = [
                {
                    "coding": [
                        {
                            "system": "http://dicom.nema.org/resources/ontology/DCM",
                            "code": consent.scope_modality,
                        }
                    ]
                }
            ]
        if consent.scope_from or consent.scope_to:
            data_period = {}
            if consent.scope_from:
                data_period["start"] = consent.scope_from.isoformat()
            if consent.scope_to:
                data_period["end"] = consent.scope_to.isoformat()
            provision["dataPeriod"] = data_period
    return {
        "resourceType": "Consent",
        "id": str(consent.series),
        "meta": {"versionId": str(consent.version), "lastUpdated": _iso(consent.created_at)},
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{_escape(consent.policy_text)}</div>',
        },
        "status": STATUS[consent.status],
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [
            {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}
        ],
        "patient": {"reference": f"Patient/{consent.patient_id}"},
        "dateTime": _iso(consent.created_at),
        "performer": [{"reference": f"Patient/{consent.patient_id}"}],
        "policyRule": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]
        },
        "provision": provision,
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
