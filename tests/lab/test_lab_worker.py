"""Runs executed by the REAL Celery worker, numbers checked against theory."""

import io

import pytest
from django.urls import reverse
from PIL import Image

from lab.models import LabRun
from tests.conftest import wait_for
from tests.factories import ClinicianFactory, PatientFactory, login_verified

RUNS = "/api/v1/lab/runs"
pytestmark = pytest.mark.django_db(transaction=True)


def _queue_length() -> int:
    from portal.celery import app

    try:
        with app.connection_for_write() as conn:
            return conn.default_channel.queue_declare(queue="celery", passive=True).message_count
    except Exception:  # noqa: BLE001 - filesystem transport: no cheap way to ask
        return 0


@pytest.fixture(autouse=True)
def drained():
    """After each test, wait until the worker is idle (lab runs finished, ledger appends of the
    recorded access decisions done) so the teardown flush does not race with a task."""
    import time

    from ledger.models import PendingEvent

    yield
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        busy = (
            LabRun.objects.filter(status__in=["queued", "running"]).exists() or PendingEvent.objects.exists()
        )
        if not busy and _queue_length() == 0:
            time.sleep(1.0)
            if _queue_length() == 0 and not PendingEvent.objects.exists():
                return
        time.sleep(0.2)


def _finished(run_id):
    def check():
        run = LabRun.objects.get(pk=run_id)
        return run if run.status in ("done", "failed") else None

    return check


def _start(client, tool, params):
    r = client.post(RUNS, {"tool": tool, "params": params}, content_type="application/json")
    assert r.status_code == 202, r.content
    body = r.json()
    assert body["simulated"] is True and body["status"] == "queued"
    return body["id"]


def _png_ok(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as im:
        im.verify()


def test_bb84_without_and_with_eve(client, celery_worker):
    login_verified(client, ClinicianFactory())
    quiet = _start(client, "bb84", {"qubits": 4000, "seed": 11})
    eve = _start(client, "bb84", {"qubits": 4000, "eve": 1.0, "seed": 12})
    run = wait_for(_finished(quiet), timeout=60, what="BB84 run without Eve")
    assert run.status == "done", run.message
    assert run.progress == 100
    res = run.result
    assert res["simulated"] is True
    assert res["qber"] == 0.0 and res["qber_true"] == 0.0
    assert res["aborted"] is False and res["keys_match"] is True and res["key_bits"] > 0
    assert res["hybrid_transfer"]["keys_match"] is True and res["hybrid_transfer"]["kem"] == "ML-KEM-768"
    assert "alice_key" not in res and "bob_key" not in res  # no key material is stored
    assert "alice_key" not in res  # no key material stored
    assert all(row["within"] is not False for row in res["comparison"])

    detail = client.get(f"{RUNS}/{quiet}").json()
    assert detail["simulated"] is True and detail["status"] == "done" and detail["progress"] == 100
    assert detail["result"]["qber"] == 0.0
    assert {"quantity", "measured", "ideal", "target", "within"} <= set(detail["comparison"][0])
    fig = client.get(detail["figure_url"])
    assert fig.status_code == 200 and fig["Content-Type"] == "image/png"
    _png_ok(fig.content)

    run = wait_for(_finished(eve), timeout=60, what="BB84 run with Eve")
    assert run.status == "done", run.message
    res = run.result
    n = res["sample_bits"]
    sigma = (0.25 * 0.75 / n) ** 0.5
    assert abs(res["qber"] - 0.25) <= 4 * sigma
    assert res["aborted"] is True and res["key_bits"] == 0
    row = next(r for r in res["comparison"] if r["quantity"].startswith("aborted"))
    assert row["measured"] is True and row["within"] is True

    listing = client.get(RUNS).json()
    assert listing["count"] == 2 and all(r["simulated"] for r in listing["results"])


def test_page_status_endpoint_and_ghost_on_own_scan(client, celery_worker):
    from portal.consent_services import consent_grant
    from tests.lab.helpers import make_matrix_scan

    clinician = ClinicianFactory()
    patient = PatientFactory()
    consent_grant(patient=patient, grantee_user=clinician, actions=["view"], purposes=["HRESCH"])
    scan, _ = make_matrix_scan(patient, clinician)
    login_verified(client, clinician)

    form = client.get(reverse("lab:new", args=["ghost"])).content.decode()
    assert str(scan.id) in form  # offered as one of my scans
    r = client.post(
        reverse("lab:new", args=["ghost"]),
        {
            "source": "scan",
            "scan_id": str(scan.id),
            "ratio": 0.3,
            "method": "cs",
            "patterns": "random",
            "detector_noise": 0,
            "seed": 5,
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    run_id = r["Location"].rstrip("/").split("/")[-1]
    page = client.get(r["Location"]).content.decode()
    assert "lab_run.js" in page and "SIMULATION" in page
    run = wait_for(_finished(run_id), timeout=60, what="ghost run on a scan")
    assert run.status == "done", run.message
    status = client.get(reverse("lab:status", args=[run_id])).json()
    assert status["done"] and status["simulated"] and status["comparison"]
    _png_ok(client.get(status["figure_url"]).content)
    # the figure shows the patient's image: at rest it is sealed, not a readable PNG
    assert not bytes(run.figure_png).startswith(b"\x89PNG")
    psnr = run.result["all_methods"]
    assert psnr["cs"]["psnr"] > psnr["dgi"]["psnr"] > psnr["gi"]["psnr"]

    # the access went through the policy decision point and was recorded for the patient
    from portal.models import AccessEvent

    ev = AccessEvent.objects.filter(patient=patient, actor=clinician, scan_id=scan.id, purpose="HRESCH")
    assert ev.filter(allowed=True).exists()


def test_scan_without_research_consent_is_refused(client, celery_worker):
    from portal.consent_services import consent_grant
    from tests.lab.helpers import make_matrix_scan

    clinician = ClinicianFactory()
    patient = PatientFactory()
    consent_grant(patient=patient, grantee_user=clinician, actions=["view"], purposes=["TREAT"])
    scan, _ = make_matrix_scan(patient, clinician)
    login_verified(client, clinician)
    r = client.post(
        RUNS,
        {"tool": "neqr", "params": {"source": "scan", "scan_id": str(scan.id)}},
        content_type="application/json",
    )
    assert r.status_code == 403
    assert "research" in r.json()["detail"]
    assert LabRun.objects.count() == 0
