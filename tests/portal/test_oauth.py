import base64
import io

import pytest
from django.core.management import call_command

from portal.models import User
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def register(name="Northside PACS") -> tuple[str, str, User]:
    out = io.StringIO()
    call_command("register_api_client", name, stdout=out)
    fields = dict(line.split("=", 1) for line in out.getvalue().split())
    return fields["client_id"], fields["client_secret"], User.objects.get(pk=fields["service_user"])


def token(client, client_id, secret, scope) -> dict:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = client.post(
        "/o/token/", {"grant_type": "client_credentials", "scope": scope}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    return response


def test_client_credentials_token_reaches_only_scoped_endpoints(client):
    client_id, secret, service_user = register()
    assert service_user.role == "api_client"
    granted = token(client, client_id, secret, "scans:read")
    assert granted.status_code == 200, granted.content
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {granted.json()['access_token']}"}
    me = client.get("/api/v1/me", **bearer)
    assert me.status_code == 200, me.json()
    assert me.json()["role"] == "api_client"
    refused = client.get("/api/v1/consents", **bearer)
    assert refused.status_code == 403 and "consents:read" in refused.json()["detail"]
    assert refused["Content-Type"] == "application/problem+json"


def test_a_token_is_accepted_in_the_authorization_header_only(client):
    """RFC 6750 allows a query parameter and a form field too; they would put the token in
    URLs (logs, browser history) and bodies, so only the header counts."""
    client_id, secret, _ = register()
    access = token(client, client_id, secret, "scans:read").json()["access_token"]
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"bearer {access}").status_code == 200
    assert client.get(f"/api/v1/me?access_token={access}").status_code in (401, 403)
    assert client.post("/api/v1/me", {"access_token": access}).status_code in (401, 403)


def test_wrong_secret_and_unknown_scope_get_no_token(client):
    client_id, secret, _ = register()
    assert token(client, client_id, "wrong-secret", "scans:read").status_code == 401
    assert token(client, client_id, secret, "everything:all").status_code == 400


def test_client_sees_consents_granted_to_it(client):
    client_id, secret, service_user = register()
    alice = PatientFactory()
    client.force_login(alice)
    series = client.post(
        "/api/v1/consents",
        {"grantee_user": str(service_user.pk), "actions": ["view"], "purposes": ["TREAT"]},
        content_type="application/json",
    ).json()["id"]
    client.logout()
    access = token(client, client_id, secret, "consents:read").json()["access_token"]
    listed = client.get("/api/v1/consents", HTTP_AUTHORIZATION=f"Bearer {access}").json()
    assert [c["id"] for c in listed["results"]] == [series]
    assert client.get("/api/v1/consents", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401
