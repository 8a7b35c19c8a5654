"""examples/client.py against a live server with a real Celery worker: token, consented scans,
download of the original, and offline verification of the scan's ledger receipt."""

from __future__ import annotations

import subprocess
import sys

import pytest

from imaging.models import Scan, ScanStatus
from tests.conftest import ROOT, wait_for
from tests.factories import PatientFactory
from tests.imaging.conftest import (
    dicom_bytes,
    drained,  # noqa: F401 - the fixture, used below
    upload_file,
)

DEMO_ID, DEMO_SECRET = "northside-demo-client", "northside-demo-secret-2026"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drained")
def test_example_client_against_live_server(live_server, celery_worker, tmp_path):
    from django.core.management import call_command

    from imaging import services
    from ledger.selectors import entry_for_event
    from ledger.services import create_checkpoint
    from portal.consent_services import consent_grant
    from portal.models import AccessEvent, User

    alice = PatientFactory(username="alice-live")
    call_command(
        "register_api_client",
        "Northside demo",
        username="client-northside",
        client_id=DEMO_ID,
        client_secret=DEMO_SECRET,
        stdout=open("/dev/null", "w"),
    )
    service_user = User.objects.get(username="client-northside")
    consent_grant(patient=alice, grantee_user=service_user, actions=["view", "download"], purposes=["TREAT"])
    scan = services.scan_upload(uploader=alice, patient=alice, file=upload_file(dicom_bytes(), "ct.dcm"))

    def finished():
        s = Scan.objects.get(pk=scan.pk)
        return s if s.status in (ScanStatus.DONE, ScanStatus.FAILED) else None

    done = wait_for(finished, timeout=120, what="the pipeline to finish")
    assert done.status == ScanStatus.DONE, done.failure_reason
    wait_for(lambda: entry_for_event(done.ledger_event_id), timeout=60, what="the ledger entry")
    create_checkpoint()  # the periodic beat task would sign it; no beat runs in the tests

    result = subprocess.run(
        [
            sys.executable,
            "examples/client.py",
            "--base-url",
            live_server.url,
            "--client-id",
            DEMO_ID,
            "--client-secret",
            DEMO_SECRET,
            "--out",
            str(tmp_path),
            "--wait",
            "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "1 consented scan(s) visible" in out
    assert "SHA-256 matches the scan: True" in out
    assert "scan.registered" in out and "verified offline" in out and "event matches the scan: True" in out
    saved = tmp_path / f"scan-{scan.id}-original.dcm"
    assert saved.read_bytes() == dicom_bytes()
    # the client's calls are in alice's access history, allowed, for treatment
    actions = set(
        AccessEvent.objects.filter(actor=service_user, allowed=True).values_list("action", flat=True)
    )
    assert {"list", "view", "download"} <= actions
