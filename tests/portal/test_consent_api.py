import pytest
from fhir.resources.R4B.consent import Consent as FhirConsent

from portal.models import Consent
from tests.factories import ClinicianFactory, OrganisationFactory, PatientFactory, login_verified, make_scan

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client):
    alice = PatientFactory()
    client.force_login(alice)
    return client, alice


def grant(client, **body):
    return client.post("/api/v1/consents", body, content_type="application/json")


def test_patient_grants_lists_exports_fhir_and_revokes(alice_client):
    client, alice = alice_client
    clinician = ClinicianFactory()
    response = grant(client, grantee_user=str(clinician.pk), actions=["view"], purposes=["TREAT"])
    assert response.status_code == 201, response.json()
    series = response.json()["id"]
    listed = client.get("/api/v1/consents").json()
    assert [c["id"] for c in listed["results"]] == [series]
    fhir = client.get(f"/api/v1/consents/{series}/fhir")
    assert fhir["Content-Type"] == "application/fhir+json"
    resource = FhirConsent.model_validate(fhir.json())  # raises on invalid FHIR
    assert resource.status == "active" and resource.provision.type == "permit"
    assert resource.provision.purpose[0].code == "TREAT"
    revoked = client.post(f"/api/v1/consents/{series}/revoke")
    assert revoked.json()["changed"] is True
    again = client.post(f"/api/v1/consents/{series}/revoke")
    assert again.status_code == 200 and again.json()["changed"] is False
    assert "Already revoked" in again.json()["detail"]
    assert (
        FhirConsent.model_validate(client.get(f"/api/v1/consents/{series}/fhir").json()).status == "inactive"
    )


def test_fhir_export_of_filter_and_listed_scopes_validates(alice_client):
    client, alice = alice_client
    scan, _, _ = make_scan(alice)
    org = OrganisationFactory()
    listed = grant(
        client,
        grantee_org=str(org.pk),
        actions=["view", "download"],
        purposes=["TREAT", "HRESCH"],
        scope_kind="listed",
        scope_scan_ids=[str(scan.id)],
    ).json()
    filt = grant(
        client,
        grantee_org=str(org.pk),
        actions=["view"],
        purposes=["HRESCH"],
        scope_kind="filter",
        scope_modality="CT",
        scope_from="2024-01-01",
        scope_to="2024-12-31",
        end="2030-01-01T00:00:00Z",
    ).json()
    for series in (listed["id"], filt["id"]):
        FhirConsent.model_validate(client.get(f"/api/v1/consents/{series}/fhir").json())


@pytest.mark.parametrize(
    "body, field",
    [
        ({"actions": ["view"], "purposes": ["TREAT"]}, "Give exactly one"),
        (
            {
                "grantee_user": "00000000-0000-0000-0000-000000000000",
                "actions": ["view"],
                "purposes": ["TREAT"],
            },
            "No clinician or API client",
        ),
        ({"grantee_user": "CLIN", "actions": ["teleport"], "purposes": ["TREAT"]}, "actions"),
        ({"grantee_user": "CLIN", "actions": ["view"], "purposes": ["SELL"]}, "purposes"),
        (
            {
                "grantee_user": "CLIN",
                "actions": ["view"],
                "purposes": ["TREAT"],
                "start": "2030-01-02T00:00:00Z",
                "end": "2030-01-01T00:00:00Z",
            },
            "after its start",
        ),
        ({"grantee_user": "not-a-uuid", "actions": ["view"], "purposes": ["TREAT"]}, "grantee_user"),
    ],
)
def test_bad_grants_get_problem_json_and_change_nothing(alice_client, body, field):
    client, _ = alice_client
    clinician = ClinicianFactory()
    body = {k: (str(clinician.pk) if v == "CLIN" else v) for k, v in body.items()}
    response = grant(client, **body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.content.decode()
    assert not Consent.objects.exists()


def test_clinician_cannot_grant_or_revoke_and_other_patient_sees_404(client):
    alice, bob, clinician = PatientFactory(), PatientFactory(), ClinicianFactory()
    client.force_login(alice)
    series = grant(client, grantee_user=str(clinician.pk), actions=["view"], purposes=["TREAT"]).json()["id"]
    login_verified(client, clinician)
    refused = grant(client, grantee_user=str(clinician.pk), actions=["view"], purposes=["TREAT"])
    assert refused.status_code == 403 and "Only patients" in refused.json()["detail"]
    assert client.get(f"/api/v1/consents/{series}").status_code == 200  # the grantee may read it
    assert client.post(f"/api/v1/consents/{series}/revoke").status_code == 404
    client.force_login(bob)
    assert client.get(f"/api/v1/consents/{series}").status_code == 404
    assert client.post(f"/api/v1/consents/{series}/revoke").status_code == 404
    assert Consent.objects.get(series=series, is_current=True).status == "active"


def test_anonymous_gets_problem_json(client):
    response = client.get("/api/v1/consents")
    assert response.status_code in (401, 403)
    assert response["Content-Type"] == "application/problem+json"
