"""Open redirect: no view that takes ``next`` sends a user off-site after a successful flow.

Every view that reads a redirect target from the request is attacked with hostile ``next``
values; after the flow succeeds (login, second factor, logout) the Location must stay on this
site. Our own views use portal.redirects.safe_next; Django's LoginView/LogoutView (portal and
admin) check the target themselves, and are attacked here too so a change cannot slip through.
"""

import time
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD, AdminFactory, ClinicianFactory, PatientFactory, login_verified

pytestmark = pytest.mark.django_db

HOSTILE = [
    "https://evil.example",
    "https://evil.example/accounts/login/",
    "http://evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    "https:/evil.example",
    "http://testserver@evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    " https://evil.example",
    "\thttps://evil.example",
    "\nhttps://evil.example",
    "\x00https://evil.example",
]


def _on_site(location: str) -> bool:
    """True if a browser following `location` stays on this site (a path, not a host)."""
    # browsers drop leading/trailing C0 controls and spaces and strip tabs/newlines anywhere
    url = (
        location.strip("".join(chr(c) for c in range(0x21)))
        .replace("\t", "")
        .replace("\n", "")
        .replace("\r", "")
    )
    url = url.replace("\\", "/")
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and url.startswith("/") and not url.startswith("//")


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def _second_factor(client, target, *, secure=False):
    clinician = ClinicianFactory()
    device = TOTPDevice.objects.create(user=clinician, name="app", confirmed=True)
    client.force_login(clinician)
    url = reverse("2fa-verify") + "?" + _query(target)
    response = client.post(url, {"token": _code(device)}, secure=secure)
    assert client.session.get("otp_device_id"), "the second factor was not accepted"
    return response


def _login(client, target, *, secure=False):
    patient = PatientFactory()
    response = client.post(
        reverse("login"), {"username": patient.username, "password": PASSWORD, "next": target}, secure=secure
    )
    assert "_auth_user_id" in client.session, "the login did not succeed"
    return response


def _login_next_in_query(client, target, *, secure=False):
    patient = PatientFactory()
    url = reverse("login") + "?" + _query(target)
    response = client.post(url, {"username": patient.username, "password": PASSWORD}, secure=secure)
    assert "_auth_user_id" in client.session, "the login did not succeed"
    return response


def _logout(client, target, *, secure=False):
    client.force_login(PatientFactory())
    response = client.post(reverse("logout"), {"next": target}, secure=secure)
    assert "_auth_user_id" not in client.session, "the logout did not succeed"
    return response


def _admin_login(client, target, *, secure=False):
    admin = AdminFactory()
    url = reverse("admin:login") + "?" + _query(target)
    response = client.post(
        url, {"username": admin.username, "password": PASSWORD, "next": target}, secure=secure
    )
    assert "_auth_user_id" in client.session, "the admin login did not succeed"
    return response


def _admin_logout(client, target, *, secure=False):
    login_verified(client, AdminFactory())
    response = client.post(reverse("admin:logout") + "?" + _query(target), {"next": target}, secure=secure)
    assert "_auth_user_id" not in client.session, "the admin logout did not succeed"
    return response


def _query(target: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": target})


FLOWS = {
    "2fa-verify": _second_factor,
    "login": _login,
    "login-query": _login_next_in_query,
    "logout": _logout,
    "admin-login": _admin_login,
    "admin-logout": _admin_logout,
}


@pytest.mark.parametrize("target", HOSTILE, ids=repr)
@pytest.mark.parametrize("flow", FLOWS)
def test_hostile_next_never_leaves_the_site(client, flow, target):
    response = FLOWS[flow](client, target)
    assert response.status_code in (302, 303), response.status_code
    assert _on_site(response["Location"]), f"{flow} redirected to {response['Location']!r}"


@pytest.mark.parametrize("flow", ["2fa-verify", "login", "logout"])
def test_secure_request_is_not_downgraded_to_http_on_our_own_host(client, flow):
    response = FLOWS[flow](client, "http://testserver/scans/", secure=True)
    assert response.status_code == 302
    assert not response["Location"].startswith("http:"), response["Location"]


@pytest.mark.parametrize("flow", ["2fa-verify", "login", "logout"])
def test_on_site_next_is_still_followed(client, flow):
    response = FLOWS[flow](client, "/ledger/?page=2")
    assert response["Location"] == "/ledger/?page=2"


def test_the_second_factor_flow_keeps_next_through_a_wrong_code(client):
    """The verify form posts back to its own URL (query string included): a wrong code, then the
    right one, still ends on-site."""
    clinician = ClinicianFactory()
    device = TOTPDevice.objects.create(user=clinician, name="app", confirmed=True)
    client.force_login(clinician)
    url = reverse("2fa-verify") + "?" + _query("//evil.example")
    wrong = "000000" if _code(device) != "000000" else "111111"
    assert client.post(url, {"token": wrong}).status_code == 200
    time.sleep(1.1)  # django-otp throttles the next attempt after a failure
    response = client.post(url, {"token": _code(device)})
    assert response.status_code == 302 and response["Location"] == reverse("home")
