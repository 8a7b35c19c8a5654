"""Throttle and lock-out counters are shared by every process.

A second Django process (``manage.py shell``, on the same database, cache and var dir, as a
second web worker would be) spends part of an address's allowance; this process must see it.
With a per-process cache (LocMemCache) each web worker had its own limits, so N workers gave an
attacker N times the allowance.
"""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from tests.conftest import ROOT, _database_url_for_test_db
from tests.factories import PASSWORD, PatientFactory

ADDRESS = "192.0.2.250"

OTHER_PROCESS = f"""
import json
from django.test import Client
c = Client(REMOTE_ADDR="{ADDRESS}")
codes = [c.post("/accounts/password/reset/", {{"email": f"nobody{{i}}@example.org"}}).status_code for i in range(2)]
codes += [c.post("/accounts/login/", {{"username": f"no-such-user-{{i}}", "password": "x"}}).status_code
          for i in range(3)]
print("CODES", json.dumps(codes))
"""


def _run_other_process(**extra_env) -> list[int]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_database_url_for_test_db(),
        QMC_VAR_DIR=str(django_settings.VAR_DIR),
        SECRET_KEY=django_settings.SECRET_KEY,
        QMC_MASTER_KEY=django_settings.QMC_MASTER_KEY,
        **extra_env,
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", OTHER_PROCESS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("CODES "))
    return json.loads(line.removeprefix("CODES "))


@pytest.mark.smoke
@pytest.mark.django_db(transaction=True)  # the other process's failed logins are committed rows
def test_another_process_spends_the_same_allowance(client, settings, mailoutbox):
    settings.QMC_RESET_PER_ADDRESS = 3
    settings.QMC_LOCKOUT_IP_FAILURES = 3
    codes = _run_other_process(QMC_RESET_PER_ADDRESS="3", QMC_LOCKOUT_IP_FAILURES="3")
    assert codes == [302, 302, 200, 200, 429]  # the third failure from the address reaches its limit

    # this process sees the two reset requests of the other: one left, then refused
    assert (
        client.post(reverse("password_reset"), {"email": "x@example.org"}, REMOTE_ADDR=ADDRESS).status_code
        == 302
    )
    assert (
        client.post(reverse("password_reset"), {"email": "y@example.org"}, REMOTE_ADDR=ADDRESS).status_code
        == 429
    )
    # ...and its failed logins: the address is locked here too, another address is not
    patient = PatientFactory()
    locked = client.post(
        reverse("login"), {"username": patient.username, "password": PASSWORD}, REMOTE_ADDR=ADDRESS
    )
    assert locked.status_code == 429
    fine = client.post(
        reverse("login"), {"username": patient.username, "password": PASSWORD}, REMOTE_ADDR="192.0.2.1"
    )
    assert fine.status_code == 302
