"""The admin shows no secret: not a TOTP key (hex, base32, otpauth URI or QR code), not an OAuth
client secret or token, not the password of a failed login.

An administrator (signed in with a verified second factor) walks every admin page of those
models over HTTP; whoever reads over their shoulder, or steals their session, learns no user's
second factor from it.
"""

import base64
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import AdminFactory, ClinicianFactory, login_verified

pytestmark = pytest.mark.django_db


def _forms_of(device: TOTPDevice) -> list[str]:
    b32 = base64.b32encode(device.bin_key).decode()
    return [device.key, device.key.upper(), b32, b32.rstrip("="), b32.lower().rstrip("="), "otpauth://"]


def _assert_no_totp_secret(response, devices):
    body = response.content.decode()
    for device in devices:
        for form in _forms_of(device):
            assert form not in body, f"{response.request['PATH_INFO']} shows a TOTP key"
    assert "qrcode" not in body.lower(), f"{response.request['PATH_INFO']} offers a QR code"
    assert not response["Content-Type"].startswith("image/"), f"{response.request['PATH_INFO']} is an image"


@pytest.fixture
def admin_client(client):
    return login_verified(client, AdminFactory())


@pytest.fixture
def device():
    return TOTPDevice.objects.create(user=ClinicianFactory(), name="phone", confirmed=True)


def test_no_admin_page_shows_a_totp_key_or_qr_code(admin_client, device):
    devices = list(TOTPDevice.objects.all())  # the victim's, and the admin's own
    assert len(devices) == 2
    base = "/admin/otp_totp/totpdevice/"
    pages = [
        base,
        f"{base}?q={device.user.username}",
        f"{base}{device.pk}/change/",
        f"{base}{device.pk}/history/",
        f"{base}{device.pk}/delete/",
        f"{base}add/",
        "/admin/",
        f"/admin/portal/user/{device.user.pk}/change/",
    ]
    for url in pages:
        response = admin_client.get(url, follow=True)
        assert response.status_code in (200, 403), (url, response.status_code)
        _assert_no_totp_secret(response, devices)
    for url in [f"{base}{device.pk}/config/", f"{base}{device.pk}/qrcode/"]:  # django-otp's key and QR pages
        response = admin_client.get(url)
        assert response.status_code in (302, 403, 404), (url, response.status_code)  # not served
        _assert_no_totp_secret(response, devices)
    # the change page is there (read-only), but nothing in it to read the key from
    assert admin_client.get(f"{base}{device.pk}/change/").status_code == 200
    assert admin_client.get(f"{base}add/").status_code == 403  # users enrol their own device


def test_a_posted_key_is_not_taken_either(admin_client, device):
    """The change form cannot be used to set a key the admin knows (and then use as the user's
    second factor)."""
    known = "00" * 20
    admin_client.post(
        f"/admin/otp_totp/totpdevice/{device.pk}/change/",
        {
            "user": device.user.pk,
            "name": "phone",
            "confirmed": "on",
            "key": known,
            "step": 30,
            "t0": 0,
            "digits": 6,
            "tolerance": 1,
            "drift": 0,
            "throttling_failure_count": 0,
        },
    )
    device.refresh_from_db()
    assert device.key != known


def test_admin_can_still_remove_a_lost_device(admin_client, device):
    response = admin_client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()


def test_oauth_client_secret_and_tokens_are_not_shown(admin_client):
    from oauth2_provider.models import AccessToken

    from portal.api_client_services import api_client_register

    app, secret = api_client_register(name="Radiology PACS", scopes=["scans:read"])
    token_value = "access-token-" + "t" * 40
    token = AccessToken.objects.create(
        application=app, token=token_value, expires=timezone.now() + timedelta(hours=1), scope="scans:read"
    )
    pages = [
        "/admin/oauth2_provider/application/",
        f"/admin/oauth2_provider/application/{app.pk}/change/",
        "/admin/oauth2_provider/accesstoken/",
        f"/admin/oauth2_provider/accesstoken/{token.pk}/change/",
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert secret not in body and token_value not in body, url


def test_the_password_of_a_failed_login_is_not_shown(client, admin_client):
    from django.test import Client

    typo = "correct-horse-battery-stapel"
    Client().post(reverse("login"), {"username": "someone", "password": typo})
    for url in ["/admin/axes/accessattempt/", "/admin/axes/accessfailurelog/"]:
        response = admin_client.get(url)
        assert typo not in response.content.decode(), url
    from axes.models import AccessAttempt

    attempt = AccessAttempt.objects.get(username="someone")
    response = admin_client.get(f"/admin/axes/accessattempt/{attempt.pk}/change/")
    assert response.status_code == 200 and typo not in response.content.decode()
