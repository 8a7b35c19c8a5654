import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check_deploy(extra_env: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "QMC_MASTER_KEY", "DEBUG"}}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy():
    result = _check_deploy(
        {
            "QMC_ENV": "production",
            "SECRET_KEY": "x" * 30 + os.urandom(24).hex(),
            "QMC_MASTER_KEY": os.urandom(32).hex(),
            "ALLOWED_HOSTS": "portal.example.org",
        }
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_secrets():
    result = _check_deploy({"QMC_ENV": "production", "ALLOWED_HOSTS": "portal.example.org"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_development_settings_are_not_deployable():
    result = _check_deploy({"QMC_ENV": "development"})
    assert result.returncode != 0  # no HSTS, no secure cookies: check --deploy must complain
