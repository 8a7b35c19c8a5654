import time

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD, ClinicianFactory, PatientFactory

pytestmark = pytest.mark.django_db


def login(client, username, password=PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.mark.smoke
def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Log in" in response.content


@pytest.mark.smoke
def test_patient_logs_in_and_session_key_rotates(client):
    patient = PatientFactory()
    client.get(reverse("login"))
    client.session.save()
    before = client.session.session_key
    response = login(client, patient.username)
    assert response.status_code == 302
    assert client.session.session_key != before
    assert client.get(reverse("home")).status_code == 200


def test_wrong_password_gives_same_message_as_unknown_user(client):
    patient = PatientFactory()
    wrong = login(client, patient.username, "not-the-password-at-all")
    unknown = login(client, "nobody-by-this-name", "not-the-password-at-all")
    assert wrong.status_code == unknown.status_code == 200
    assert wrong.context["form"].non_field_errors() == unknown.context["form"].non_field_errors()


def test_lockout_after_repeated_failures(client, settings, caplog):
    patient = PatientFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, patient.username, "wrong-password-123")
    with caplog.at_level("WARNING", logger="axes"):
        response = login(client, patient.username)  # even the right password is refused now
    assert response.status_code == 429
    assert b"Too many failed attempts" in response.content
    assert "_auth_user_id" not in client.session
    assert any("locking out" in record.getMessage().lower() for record in caplog.records)


def test_password_change_requires_old_password(client):
    patient = PatientFactory()
    login(client, patient.username)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "wrong-old-password",
            "new_password1": "A-much-better-pass-7",
            "new_password2": "A-much-better-pass-7",
        },
    )
    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors
    patient.refresh_from_db()
    assert patient.check_password(PASSWORD)


def test_password_change_rotates_session_and_rejects_weak_password(client):
    patient = PatientFactory()
    login(client, patient.username)
    weak = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "short", "new_password2": "short"},
    )
    assert "new_password2" in weak.context["form"].errors
    before = client.session.session_key
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "A-much-better-pass-7",
            "new_password2": "A-much-better-pass-7",
        },
    )
    assert response.status_code == 302
    assert client.session.session_key != before
    patient.refresh_from_db()
    assert patient.check_password("A-much-better-pass-7")
    assert client.get(reverse("home")).status_code == 200  # still logged in on the new session


def test_password_reset_sends_mail_only_for_known_address_and_expired_token_refused(client, mailoutbox):
    patient = PatientFactory()
    client.post(reverse("password_reset"), {"email": "unknown@example.org"})
    assert len(mailoutbox) == 0
    response = client.post(reverse("password_reset"), {"email": patient.email})
    assert response.status_code == 302  # same answer either way: no account oracle
    assert len(mailoutbox) == 1
    bad = client.get(reverse("password_reset_confirm", args=["MQ", "bad-token"]), follow=True)
    assert b"no longer works" in bad.content


def test_clinician_without_second_factor_is_sent_to_setup(client):
    clinician = ClinicianFactory()
    login(client, clinician.username)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("2fa-setup")
    api = client.get("/api/v1/schema/")
    assert api.status_code == 403


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_clinician_enrols_totp_then_reaches_pages(client):
    clinician = ClinicianFactory()
    login(client, clinician.username)
    assert client.get(reverse("2fa-setup")).status_code == 200
    device = TOTPDevice.objects.get(user=clinician)
    wrong = client.post(reverse("2fa-setup"), {"token": "000000" if _code(device) != "000000" else "111111"})
    assert b"not valid" in wrong.content
    time.sleep(1.1)  # django-otp throttles the next attempt after a failure
    ok = client.post(reverse("2fa-setup"), {"token": _code(device)})
    assert ok.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_clinician_with_device_must_verify_at_each_login(client):
    clinician = ClinicianFactory()
    device = TOTPDevice.objects.create(user=clinician, name="app", confirmed=True)
    login(client, clinician.username)
    assert client.get(reverse("home"))["Location"] == reverse("2fa-verify")
    client.post(reverse("2fa-verify"), {"token": "12345"})  # malformed: refused by the form
    assert client.get(reverse("home")).status_code == 302
    wrong = "000000" if _code(device) != "000000" else "111111"
    assert b"not valid" in client.post(reverse("2fa-verify"), {"token": wrong}).content
    # straight after a failure the device is throttled: even the right code waits
    assert b"Too many wrong codes" in client.post(reverse("2fa-verify"), {"token": _code(device)}).content
    time.sleep(1.1)
    client.post(reverse("2fa-verify"), {"token": _code(device)})
    assert client.get(reverse("home")).status_code == 200


def test_second_factor_is_optional_for_patients_by_default_but_configurable(client, settings):
    patient = PatientFactory()
    login(client, patient.username)
    assert client.get(reverse("home")).status_code == 200
    settings.QMC_2FA_REQUIRED_ROLES = ["patient"]
    assert client.get(reverse("home"))["Location"] == reverse("2fa-setup")


def _expiry(client):
    from django.contrib.sessions.models import Session

    return Session.objects.get(pk=client.session.session_key).expire_date


@pytest.mark.smoke
def test_idle_session_is_refreshed_at_most_once_per_window_and_expires_when_idle(client, settings):
    patient = PatientFactory()
    assert login(client, patient.username).status_code == 302
    first = _expiry(client)
    # within the refresh window: no session write, the expiry stays
    time.sleep(0.01)
    response = client.get(reverse("home"))
    assert response.status_code == 200 and settings.SESSION_COOKIE_NAME not in response.cookies
    assert _expiry(client) == first
    # once the window has passed, a request pushes the expiry back
    settings.QMC_SESSION_REFRESH_SECONDS = 0
    time.sleep(0.01)
    assert client.get(reverse("home")).status_code == 200
    assert _expiry(client) > first
    # idle past the timeout: the session is gone and the user must log in again
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    Session.objects.filter(pk=client.session.session_key).update(expire_date=timezone.now())
    response = client.get(reverse("home"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
