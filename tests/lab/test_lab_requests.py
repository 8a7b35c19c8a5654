"""Parameter validation and who may use the lab (no worker needed)."""

import pytest
from django.urls import reverse

from lab.models import LabRun
from lab.tools import LabParamError, clean_params
from tests.factories import AdminFactory, AuditorFactory, ClinicianFactory, PatientFactory, login_verified

RUNS = "/api/v1/lab/runs"


@pytest.fixture
def clinician_client(client):
    return login_verified(client, ClinicianFactory())


@pytest.mark.smoke
@pytest.mark.django_db
def test_smoke_index_labelled_and_patient_refused(client):
    login_verified(client, ClinicianFactory())
    r = client.get(reverse("lab:index"))
    assert r.status_code == 200
    body = r.content.decode()
    assert "SIMULATION — runs on a classical computer with qiskit-aer; security never rests on it" in body
    for tool in ("bb84", "neqr", "qhash", "bellauth", "ghost"):
        assert reverse("lab:new", args=[tool]) in body
    assert 'href="/lab/"' in body  # nav link
    client.logout()
    client.force_login(PatientFactory())
    assert client.get(reverse("lab:index")).status_code == 403
    with pytest.raises(LabParamError, match="qubits must be between 16 and 20000"):
        clean_params("bb84", {"qubits": -5})


@pytest.mark.parametrize(
    "tool,params,message",
    [
        ("bb84", {"qubits": -5}, "qubits must be between 16 and 20000, got -5"),
        ("bb84", {"qubits": 50000}, "qubits must be between 16 and 20000"),
        ("bb84", {"qubits": 100, "eve": 1.5}, "eve must be in [0, 1], got 1.5"),
        ("bb84", {"qubits": "many"}, "qubits must be an integer"),
        ("neqr", {"size": 100}, "size must be one of 16, 32, 64, 128, 256"),
        ("neqr", {"source": "scan", "scan_id": "nope"}, "scan_id must be the id of one of your scans"),
        ("qhash", {"samples": 0}, "samples must be between 1 and 2000"),
        ("qhash", {"samples": 100000}, "samples must be between 1 and 2000"),
        ("bellauth", {"pairs": 10, "checked": 20}, "checked (20) must not exceed pairs (10)"),
        ("bellauth", {"attack": "photon"}, "attack must be one of none, intercept, entangle"),
        ("ghost", {"ratio": 0}, "ratio must be in (0, 1], got 0"),
        ("ghost", {"ratio": 1.2}, "ratio must be in (0, 1]"),
        ("ghost", {"bogus": 1}, "unknown parameter(s) for ghost: bogus"),
        ("teleport", {}, "tool must be one of"),
    ],
)
@pytest.mark.django_db
def test_bad_params_are_400_problem_json_and_nothing_saved(clinician_client, tool, params, message):
    r = clinician_client.post(RUNS, {"tool": tool, "params": params}, content_type="application/json")
    assert r.status_code == 400, r.content
    assert r["Content-Type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 400
    text = body["detail"] + str(body.get("errors", ""))
    if tool != "teleport":
        assert message in text
    assert LabRun.objects.count() == 0


@pytest.mark.django_db
def test_scan_of_someone_else_is_refused(clinician_client):
    from tests.lab.helpers import make_matrix_scan

    other = ClinicianFactory()
    scan, _ = make_matrix_scan(PatientFactory(), other)
    r = clinician_client.post(
        RUNS,
        {"tool": "ghost", "params": {"source": "scan", "scan_id": str(scan.id)}},
        content_type="application/json",
    )
    assert r.status_code == 400
    assert "one of your own scans" in r.json()["detail"]
    assert LabRun.objects.count() == 0


@pytest.mark.django_db
def test_web_form_bad_param_shows_error_and_saves_nothing(clinician_client):
    r = clinician_client.post(
        reverse("lab:new", args=["bellauth"]),
        {"pairs": 10, "checked": 20, "attack": "none", "noise": 0, "trials": 5},
    )
    assert r.status_code == 400
    assert "checked (20) must not exceed pairs (10)" in r.content.decode()
    assert LabRun.objects.count() == 0
    r = clinician_client.get(reverse("lab:new", args=["ghost"]))
    assert r.status_code == 200
    assert 'for="id_ratio"' in r.content.decode()


@pytest.mark.django_db
def test_patient_gets_403_everywhere(client):
    client.force_login(PatientFactory())
    assert client.get(reverse("lab:index")).status_code == 403
    assert client.get(reverse("lab:new", args=["bb84"])).status_code == 403
    r = client.get(RUNS)
    assert r.status_code == 403 and r["Content-Type"].startswith("application/problem+json")
    r = client.post(RUNS, {"tool": "bb84", "params": {"qubits": 100}}, content_type="application/json")
    assert r.status_code == 403
    assert LabRun.objects.count() == 0


@pytest.mark.django_db
def test_anonymous_is_refused(client):
    r = client.get(reverse("lab:index"))
    assert r.status_code == 302 and "login" in r["Location"]
    assert client.get(RUNS).status_code in (401, 403)
    r = client.post(RUNS, {"tool": "bb84", "params": {}}, content_type="application/json")
    assert r.status_code in (401, 403)
    assert LabRun.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("factory", [AuditorFactory, AdminFactory])
def test_auditors_and_admins_may_use_the_lab(client, factory):
    login_verified(client, factory())
    assert client.get(reverse("lab:index")).status_code == 200
    assert client.get(RUNS).status_code == 200


@pytest.mark.django_db
def test_runs_of_others_are_not_visible(client, django_capture_on_commit_callbacks):
    from lab.services import lab_run_start

    owner = ClinicianFactory()
    run = lab_run_start(user=owner, tool="bb84", params={"qubits": 100})
    login_verified(client, ClinicianFactory())
    assert client.get(f"{RUNS}/{run.id}").status_code == 404
    assert client.get(reverse("lab:run", args=[run.id])).status_code == 404
