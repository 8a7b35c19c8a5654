"""Lock-out and throttles: one address must not lock everyone out, and nobody can dodge a limit
by claiming another address.

Behind a proxy every user shares one client address, so failures lock the account they were
made against (from any address); an address is only refused after QMC_LOCKOUT_IP_FAILURES
failures of its own. The client address is REMOTE_ADDR unless QMC_TRUSTED_PROXY_COUNT says how
many proxies of ours append to X-Forwarded-For. Password-reset mail is throttled per target
address and per client address, with the same answer whether the account exists or not.
"""

import pytest
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from tests.factories import PASSWORD, PatientFactory, _hashed_password

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_dummy_hash(settings):
    """A failed login for an unknown name still hashes the password (against timing attacks);
    with Argon2 that is the bulk of these tests' time. The factory users keep their Argon2 hash
    (made first: the factories reuse it in later tests, where MD5 is not allowed)."""
    _hashed_password()
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]


SPRAYER = "198.51.100.7"
NEIGHBOUR = "203.0.113.20"


def login(client, username, password=PASSWORD, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def spray(client, n, *, addr=SPRAYER, **extra):
    """n failed logins for usernames nobody has, from `addr`."""
    for i in range(n):
        response = login(client, f"no-such-user-{i}", "Spring2026!", REMOTE_ADDR=addr, **extra)
        assert response.status_code in (200, 429)


def logs_in(client, user, *, addr, **extra) -> bool:
    client.logout()
    response = login(client, user.username, REMOTE_ADDR=addr, **extra)
    ok = response.status_code == 302 and "_auth_user_id" in client.session
    client.logout()
    return ok


@pytest.fixture
def low_address_threshold(settings):
    settings.QMC_LOCKOUT_IP_FAILURES = 8
    return 8


def test_spraying_unknown_usernames_from_a_shared_address_does_not_lock_out_real_users(client, settings):
    """Five-plus failures for made-up names from the proxy's address; a real user behind the same
    proxy still logs in."""
    spray(client, settings.AXES_FAILURE_LIMIT * 3)
    assert logs_in(client, PatientFactory(), addr=SPRAYER)


def test_failures_on_a_real_account_lock_that_account_from_any_address(client, settings):
    victim = PatientFactory()
    for i in range(settings.AXES_FAILURE_LIMIT):
        login(client, victim.username, "wrong-password-123", REMOTE_ADDR=f"192.0.2.{i + 1}")
    response = login(client, victim.username, REMOTE_ADDR="192.0.2.99")  # right password, new address
    assert response.status_code == 429 and "_auth_user_id" not in client.session
    # ...and only that account: another user from one of those addresses is fine
    assert logs_in(client, PatientFactory(), addr="192.0.2.1")


def test_per_address_threshold_blocks_the_spraying_address_but_not_others(client, low_address_threshold):
    real = PatientFactory()
    spray(client, low_address_threshold - 1)
    assert logs_in(client, real, addr=SPRAYER)  # below the threshold: other people's failures don't count
    spray(client, 1)
    response = login(client, PatientFactory().username, REMOTE_ADDR=SPRAYER)
    assert response.status_code == 429 and "_auth_user_id" not in client.session
    assert b"Too many failed attempts" in response.content
    assert logs_in(client, PatientFactory(), addr=NEIGHBOUR)


def test_rotating_a_spoofed_x_forwarded_for_does_not_escape_the_address_threshold(
    client, low_address_threshold
):
    for i in range(low_address_threshold):
        login(
            client,
            f"no-such-user-{i}",
            "Spring2026!",
            REMOTE_ADDR=SPRAYER,
            HTTP_X_FORWARDED_FOR=f"10.9.8.{i}",
        )
    assert not logs_in(client, PatientFactory(), addr=SPRAYER, HTTP_X_FORWARDED_FOR="10.9.8.200")


def test_a_spoofed_x_forwarded_for_cannot_get_someone_else_blocked(client, low_address_threshold):
    spray(client, low_address_threshold, HTTP_X_FORWARDED_FOR=NEIGHBOUR)
    assert logs_in(client, PatientFactory(), addr=NEIGHBOUR)


def test_behind_a_trusted_proxy_the_address_comes_from_its_x_forwarded_for_entry(
    client, settings, low_address_threshold
):
    settings.QMC_TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    # the client puts a fake entry first; our proxy appends the address it saw
    for i in range(low_address_threshold):
        login(
            client,
            f"no-such-user-{i}",
            "x",
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=f"{NEIGHBOUR}, {SPRAYER}",
        )
    assert not logs_in(client, PatientFactory(), addr=proxy, HTTP_X_FORWARDED_FOR=SPRAYER)
    assert logs_in(client, PatientFactory(), addr=proxy, HTTP_X_FORWARDED_FOR=NEIGHBOUR)


def test_api_throttle_ignores_a_spoofed_x_forwarded_for(client, monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "2/min"})
    codes = [
        client.get("/api/v1/ledger/keys", REMOTE_ADDR=SPRAYER, HTTP_X_FORWARDED_FOR=f"10.1.1.{i}").status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]


def reset(client, email, addr, **extra):
    return client.post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=addr, **extra)


def test_password_reset_mail_is_throttled_per_account_with_the_same_answer_either_way(
    client, settings, mailoutbox
):
    settings.QMC_RESET_PER_ACCOUNT = 3
    patient = PatientFactory()
    answers = [
        reset(client, patient.email, f"192.0.2.{i}") for i in range(settings.QMC_RESET_PER_ACCOUNT + 2)
    ]
    assert len(mailoutbox) == settings.QMC_RESET_PER_ACCOUNT
    unknown = [
        reset(client, "nobody@example.org", f"192.0.2.{i}") for i in range(settings.QMC_RESET_PER_ACCOUNT + 2)
    ]
    assert len(mailoutbox) == settings.QMC_RESET_PER_ACCOUNT
    for response in answers + unknown:
        assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    # the same address in another case is the same account
    reset(client, patient.email.upper(), "192.0.2.200")
    assert len(mailoutbox) == settings.QMC_RESET_PER_ACCOUNT


def test_password_reset_is_throttled_per_client_address_and_xff_spoofing_does_not_help(
    client, settings, mailoutbox
):
    settings.QMC_RESET_PER_ADDRESS = 4
    people = PatientFactory.create_batch(6)
    answers = [
        reset(client, p.email, SPRAYER, HTTP_X_FORWARDED_FOR=f"10.2.2.{i}").status_code
        for i, p in enumerate(people)
    ]
    assert answers == [302] * 4 + [429] * 2
    assert len(mailoutbox) == 4
    refused = reset(client, "nobody@example.org", SPRAYER)
    assert refused.status_code == 429 and b"Too many" in refused.content  # the same for any address
    # someone else is not held up
    assert reset(client, people[5].email, NEIGHBOUR).status_code == 302
    assert len(mailoutbox) == 5
