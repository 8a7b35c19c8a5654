import pytest
from django.core.management import call_command

from portal.models import Consent, Organisation, Role, User


@pytest.mark.smoke
@pytest.mark.django_db
def test_seed_demo_creates_people_and_is_idempotent(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert Organisation.objects.count() == 1
    assert User.objects.filter(role=Role.CLINICIAN).count() == 2
    assert User.objects.filter(role=Role.PATIENT).count() == 3
    assert User.objects.filter(role=Role.AUDITOR).count() == 1
    assert "dr.ada" in out and "TOTP key" in out
    assert User.objects.get(username="alice").check_password("demo-password-2026")
    states = {c.effective_status() for c in Consent.objects.filter(is_current=True)}
    assert states == {"active", "expired", "inactive", "pending"}
    assert User.objects.filter(role=Role.API_CLIENT).count() == 1
