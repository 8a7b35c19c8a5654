"""OAuth 2.0 clients (issue 19, class 1): only administrators register third-party clients; end
users can neither register, authorize nor own one; a client gets at most the scopes an
administrator allowed it, nothing once it or its owner is deactivated, and /o/token/ is throttled.

Every attack goes over HTTP with the Django test client, as an outsider would. Applications the
old self-service pages could create are made with bulk_create (it skips the save-time checks),
as rows left over from before the fix would be.
"""

from __future__ import annotations

import base64
import io
import secrets

import pytest
from django.core.management import call_command
from django.test import override_settings
from oauth2_provider.models import AccessToken, Application

from portal.models import Role, User
from tests.api.conftest import ALL_READ_SCOPES, fetch_token, register_client, stored_scan
from tests.factories import AdminFactory, ClinicianFactory, PatientFactory, UserFactory, login_verified

pytestmark = pytest.mark.django_db

OUTSIDE = "https://collector.example.net/cb"


@pytest.fixture(autouse=True)
def _fast_secret_hash(settings):
    """Client secrets are hashed with the first password hasher; Argon2 would be most of these
    tests' time, and how the secret is hashed is not what they test."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]


def basic(client_id: str, secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def token_request(http, client_id, secret, scope="scans:read", **extra):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return http.post("/o/token/", data, **basic(client_id, secret), **extra)


def register(name: str, *args: str) -> tuple[str, str, User]:
    out = io.StringIO()
    call_command("register_api_client", name, *args, stdout=out)
    fields = dict(line.split("=", 1) for line in out.getvalue().split())
    return fields["client_id"], fields["client_secret"], User.objects.get(pk=fields["service_user"])


def legacy_application(owner, *, client_type="confidential", grant="client-credentials", secret="s3cret"):
    """An application as /o/applications/register/ used to save it, owned by `owner`."""
    (app,) = Application.objects.bulk_create(
        [
            Application(
                name="self-registered",
                user=owner,
                client_type=client_type,
                authorization_grant_type=grant,
                client_secret=secret,
                redirect_uris=OUTSIDE if grant == "authorization-code" else "",
            )
        ]
    )
    return app


# --- end users can neither register, authorize nor manage applications -----------------------


@pytest.mark.parametrize("role", ["patient", "clinician"])
def test_end_users_cannot_register_or_manage_applications(client, role):
    user = PatientFactory() if role == "patient" else ClinicianFactory()
    login_verified(client, user)
    form = {
        "name": "innocent app",
        "client_type": "confidential",
        "authorization_grant_type": "authorization-code",
        "redirect_uris": OUTSIDE,
        "algorithm": "",
    }
    assert client.get("/o/applications/register/").status_code == 404
    assert client.post("/o/applications/register/", form).status_code == 404
    assert not Application.objects.exists()
    for path in (
        "/o/applications/",
        "/o/authorized_tokens/",
        "/o/applications/1/",
        "/o/applications/1/update/",
    ):
        assert client.get(path).status_code == 404, path


@pytest.mark.smoke
def test_the_authorization_endpoint_and_other_user_flows_are_gone(client):
    """The probe's attack: a patient's authorization-code app, a clinician clicking Authorize."""
    app = legacy_application(PatientFactory(), grant="authorization-code")
    login_verified(client, ClinicianFactory())
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": OUTSIDE,
        "scope": "scans:read",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    assert client.get("/o/authorize/", query).status_code == 404
    assert client.post("/o/authorize/", {**query, "allow": "Authorize"}).status_code == 404
    for path in (
        "/o/device-authorization/",
        "/o/device/",
        "/o/userinfo/",
        "/o/logout/",
        "/o/register/",
        "/o/.well-known/openid-configuration",
        "/o/.well-known/jwks.json",
        "/o/.well-known/oauth-authorization-server",
    ):
        assert client.get(path).status_code == 404, path
        assert client.post(path).status_code == 404, path


# --- only administrator-made, confidential client-credentials apps of an api_client get tokens -


@pytest.mark.parametrize(
    "owner_role, client_type, grant",
    [
        (Role.CLINICIAN, "confidential", "client-credentials"),  # the probe's second finding
        (Role.PATIENT, "confidential", "client-credentials"),
        (Role.API_CLIENT, "public", "client-credentials"),
        (Role.API_CLIENT, "confidential", "authorization-code"),
    ],
)
def test_no_token_for_an_application_no_administrator_registered(client, owner_role, client_type, grant):
    owner = ClinicianFactory() if owner_role == Role.CLINICIAN else UserFactory(role=owner_role)
    app = legacy_application(owner, client_type=client_type, grant=grant)
    response = token_request(client, app.client_id, "s3cret")
    assert response.status_code in (400, 401), response.content
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")
    assert not AccessToken.objects.exists()


def test_a_token_an_end_user_app_already_holds_stops_working(client):
    """A token minted before the fix for a clinician's self-registered app opens nothing now."""
    doc = ClinicianFactory()
    app = legacy_application(doc)
    from datetime import timedelta

    from django.utils import timezone

    AccessToken.objects.create(
        application=app,
        token="legacy-token-value",
        scope=ALL_READ_SCOPES,
        expires=timezone.now() + timedelta(hours=1),
    )
    response = client.get("/api/v1/scans", HTTP_AUTHORIZATION="Bearer legacy-token-value")
    assert response.status_code == 401


def test_an_administrator_cannot_save_a_public_or_authorization_code_client(client):
    """The admin's application form refuses what no client of this portal may be."""
    login_verified(client, AdminFactory())
    owner = UserFactory(role=Role.API_CLIENT)
    base = {
        "client_id": "admin-made-client",
        "client_secret": "a-long-enough-secret-for-the-test-1234",
        "hash_client_secret": "on",
        "name": "Northside",
        "user": str(owner.pk),
        "redirect_uris": "",
        "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "algorithm": "",
        **inline(scopes=["scans:read"]),
    }
    bad = [
        {"client_type": "public", "authorization_grant_type": "client-credentials"},
        {
            "client_type": "confidential",
            "authorization_grant_type": "authorization-code",
            "redirect_uris": OUTSIDE,
        },
        {
            "client_type": "confidential",
            "authorization_grant_type": "client-credentials",
            "user": str(PatientFactory().pk),
        },
    ]
    for fields in bad:
        response = client.post("/admin/oauth2_provider/application/add/", {**base, **fields})
        assert response.status_code == 200, fields  # the form again, with its errors
        assert response.context["adminform"].form.errors or response.context["errors"], fields
        assert not Application.objects.exists(), fields


def test_the_command_refuses_to_make_a_client_owned_by_a_person():
    from django.core.management.base import CommandError

    doc = ClinicianFactory()
    with pytest.raises(CommandError, match="is not an API client"):
        register("Sneaky", "--username", doc.username)
    with pytest.raises(CommandError, match="Unknown scope everything:all"):
        register("Greedy", "--scopes", "scans:read everything:all")
    assert not Application.objects.exists()


# --- scopes ------------------------------------------------------------------------------


def test_a_client_gets_only_the_scopes_an_administrator_allowed(client):
    client_id, secret, _ = register("Narrow PACS", "--scopes", "scans:read ledger:read")
    refused = token_request(client, client_id, secret, "scans:read consents:read")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    assert token_request(client, client_id, secret, "scans:write").json()["error"] == "invalid_scope"
    granted = token_request(client, client_id, secret, "scans:read ledger:read")
    assert granted.status_code == 200 and set(granted.json()["scope"].split()) == {
        "scans:read",
        "ledger:read",
    }
    default = token_request(client, client_id, secret, None)
    assert default.status_code == 200 and set(default.json()["scope"].split()) <= {
        "scans:read",
        "ledger:read",
    }


def test_an_administrator_changes_the_allowed_scopes_in_the_admin(client):
    client_id, secret, _ = register("Narrow PACS", "--scopes", "scans:read")
    assert token_request(client, client_id, secret, "consents:read").status_code == 400
    app = Application.objects.get(client_id=client_id)
    admin_http = login_verified(type(client)(), AdminFactory())
    form = application_form(app, scopes=["scans:read", "consents:read"], active=True)
    saved = admin_http.post(f"/admin/oauth2_provider/application/{app.pk}/change/", form)
    assert saved.status_code == 302, saved.context["errors"] if saved.context else saved.content
    assert token_request(client, client_id, secret, "consents:read").status_code == 200


# --- deactivation ------------------------------------------------------------------------


def test_a_deactivated_owner_gets_no_token_and_its_tokens_stop_working(client):
    client_id, secret, owner = register("Closing PACS")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {fetch_token(client, client_id, secret, 'scans:read')}"}
    assert client.get("/api/v1/scans", **bearer).status_code == 200
    owner.is_active = False
    owner.save()
    response = token_request(client, client_id, secret)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert client.get("/api/v1/scans", **bearer).status_code == 401


def test_a_client_deactivated_in_the_admin_gets_no_token_and_its_tokens_stop_working(client):
    client_id, secret, _ = register("Closing PACS")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {fetch_token(client, client_id, secret, 'scans:read')}"}
    assert client.get("/api/v1/scans", **bearer).status_code == 200
    app = Application.objects.get(client_id=client_id)
    admin_http = login_verified(type(client)(), AdminFactory())
    form = application_form(app, scopes=ALL_READ_SCOPES.split(), active=False)
    saved = admin_http.post(f"/admin/oauth2_provider/application/{app.pk}/change/", form)
    assert saved.status_code == 302, saved.context["errors"] if saved.context else saved.content
    response = token_request(client, client_id, secret)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert client.get("/api/v1/scans", **bearer).status_code == 401


def test_the_admin_deactivate_action_stops_a_client_and_deletes_its_tokens(client):
    client_id, secret, _ = register("Closing PACS")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {fetch_token(client, client_id, secret, 'scans:read')}"}
    app = Application.objects.get(client_id=client_id)
    admin_http = login_verified(type(client)(), AdminFactory())
    done = admin_http.post(
        "/admin/oauth2_provider/application/",
        {"action": "deactivate", "_selected_action": [str(app.pk)]},
    )
    assert done.status_code == 302
    assert not AccessToken.objects.filter(application=app).exists()
    assert client.get("/api/v1/scans", **bearer).status_code == 401
    assert token_request(client, client_id, secret).status_code == 401


def test_saving_an_application_anywhere_checks_the_rules():
    """The admin form and the command are not the only way to save: the model save refuses too."""
    from django.core.exceptions import ValidationError

    app = Application(
        name="shell-made",
        user=PatientFactory(),
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris=OUTSIDE,
    )
    with pytest.raises(ValidationError) as refused:
        app.save()
    assert set(refused.value.message_dict) >= {
        "client_type",
        "authorization_grant_type",
        "user",
        "redirect_uris",
    }
    assert not Application.objects.exists()


def test_introspection_answers_only_about_the_clients_own_tokens_and_revoking_works(client):
    """Introspection answers only about the asking client's own tokens; revocation works."""
    a_id, a_secret, _ = register("Client A")
    b_id, b_secret, _ = register("Client B")
    a_token = fetch_token(client, a_id, a_secret, "scans:read")
    b_token = fetch_token(client, b_id, b_secret, "scans:read")
    own = client.post("/o/introspect/", {"token": a_token}, **basic(a_id, a_secret))
    assert own.status_code == 200 and own.json()["active"] is True
    other = client.post("/o/introspect/", {"token": b_token}, **basic(a_id, a_secret))
    assert other.status_code == 200 and other.json() == {"active": False}
    assert client.post("/o/introspect/", {"token": a_token}).status_code == 401
    revoked = client.post("/o/revoke_token/", {"token": a_token}, **basic(a_id, a_secret))
    assert revoked.status_code == 200
    assert client.get("/api/v1/scans", HTTP_AUTHORIZATION=f"Bearer {a_token}").status_code == 401


# --- throttling --------------------------------------------------------------------------


def fresh_address() -> str:
    """An address no earlier run counted against (the cache may outlive a test run)."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


@override_settings(QMC_TOKEN_RATE_PER_CLIENT="3/min", QMC_TOKEN_RATE_PER_ADDRESS="1000/min")
def test_token_requests_per_client_are_throttled(client):
    client_id, secret, _ = register("Busy PACS")
    address = {"REMOTE_ADDR": fresh_address()}
    answers = [token_request(client, client_id, "wrong", **address).status_code for _ in range(3)]
    assert answers == [401, 401, 401]
    throttled = token_request(client, client_id, secret, **address)  # even the right secret now
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    body = throttled.json()
    assert body["error"] == "slow_down" and "try again" in body["error_description"]
    assert not AccessToken.objects.exists()
    # from another address too: the count is per client id
    assert token_request(client, client_id, secret, REMOTE_ADDR=fresh_address()).status_code == 429


@pytest.mark.parametrize("path", ["/o/token/", "/o/revoke_token/", "/o/introspect/"])
@override_settings(QMC_TOKEN_RATE_PER_CLIENT="1000/min", QMC_TOKEN_RATE_PER_ADDRESS="4/min")
def test_requests_per_address_are_throttled(client, path):
    """Guessing many client ids from one address; every guess costs a password-hash check."""
    address = {"REMOTE_ADDR": fresh_address()}
    data = {"grant_type": "client_credentials", "token": "x"}
    answers = [
        client.post(path, data, **basic(f"guess-{i}", "guess"), **address).status_code for i in range(4)
    ]
    assert 429 not in answers
    throttled = client.post(path, data, **basic("guess-5", "guess"), **address)
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert throttled.json()["error"] == "slow_down"
    client_id, secret, _ = register("Other PACS")
    assert token_request(client, client_id, secret, REMOTE_ADDR=fresh_address()).status_code == 200


# --- the way that works: an administrator registers the client ---------------------------


def test_a_client_an_administrator_registered_in_the_admin_works_end_to_end(client):
    admin_http = login_verified(type(client)(), AdminFactory())
    owner = UserFactory(role=Role.API_CLIENT, username="client-southside")
    secret = "southside-secret-that-is-long-enough-2026"
    form = {
        "client_id": "southside-pacs",
        "client_secret": secret,
        "hash_client_secret": "on",
        "name": "Southside PACS",
        "user": str(owner.pk),
        "client_type": "confidential",
        "authorization_grant_type": "client-credentials",
        "redirect_uris": "",
        "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "algorithm": "",
        **inline(scopes=["scans:read"]),
    }
    assert admin_http.get("/admin/oauth2_provider/application/add/").status_code == 200
    saved = admin_http.post("/admin/oauth2_provider/application/add/", form)
    assert saved.status_code == 302, saved.context["errors"] if saved.context else saved.content
    alice = PatientFactory()
    from portal.consent_services import consent_grant

    consent_grant(patient=alice, grantee_user=owner, actions=["view"], purposes=["TREAT"])
    scan, _ = stored_scan(alice)
    access = fetch_token(client, "southside-pacs", secret, "scans:read")
    listed = client.get("/api/v1/scans", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [str(scan.id)]


@pytest.mark.smoke
def test_a_client_registered_with_the_command_works_end_to_end(client):
    """A server-to-server client has no CSRF cookie: the throttled token view stays CSRF-exempt."""
    from django.test import Client

    client_id, secret, _ = register_client("Northside PACS")
    access = fetch_token(Client(enforce_csrf_checks=True), client_id, secret, ALL_READ_SCOPES)
    assert client.get("/api/v1/scans", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200


# --- admin form helpers -------------------------------------------------------------------

INLINE = "policy"


def inline(*, scopes, active=True, policy_id="", app_id="") -> dict:
    """The one-row inline formset of the client policy on the application's admin page."""
    data = {
        f"{INLINE}-TOTAL_FORMS": "1",
        f"{INLINE}-INITIAL_FORMS": "1" if policy_id else "0",
        f"{INLINE}-MIN_NUM_FORMS": "0",
        f"{INLINE}-MAX_NUM_FORMS": "1",
        f"{INLINE}-0-allowed_scopes": scopes,
        f"{INLINE}-0-id": policy_id,
        f"{INLINE}-0-application": app_id,
    }
    if active:
        data[f"{INLINE}-0-is_active"] = "on"
    return data


def application_form(app, *, scopes, active) -> dict:
    return {
        "client_id": app.client_id,
        "client_secret": app.client_secret,  # the stored hash: left as it is
        "hash_client_secret": "on",
        "name": app.name,
        "user": str(app.user_id),
        "client_type": app.client_type,
        "authorization_grant_type": app.authorization_grant_type,
        "redirect_uris": "",
        "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "algorithm": app.algorithm,
        **inline(scopes=scopes, active=active, policy_id=str(app.policy.pk), app_id=str(app.pk)),
    }


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_registered_clients_and_not_self_registered_apps():
    """Upgrading: a client the command made keeps working; an end user's application gets no
    policy, so no token."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("portal", "0003_consent_keys_access")])
    try:
        oauth_leaf = [node for node in executor.loader.graph.leaf_nodes() if node[0] == "oauth2_provider"]
        old = executor.loader.project_state([("portal", "0003_consent_keys_access"), *oauth_leaf]).apps
        OldApplication, OldUser = (
            old.get_model("oauth2_provider", "Application"),
            old.get_model("portal", "User"),
        )
        service = OldUser.objects.create(username="client-old", role="api_client")
        person = OldUser.objects.create(username="patient-old", role="patient")
        common = {"client_type": "confidential", "authorization_grant_type": "client-credentials"}
        OldApplication.objects.create(client_id="registered", user=service, **common)
        OldApplication.objects.create(client_id="self-made", user=person, **common)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    from portal.models import ApiClientPolicy

    assert list(ApiClientPolicy.objects.values_list("application__client_id", flat=True)) == ["registered"]
    assert "scans:read" in ApiClientPolicy.objects.get().scopes
