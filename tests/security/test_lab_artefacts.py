"""Quantum-lab artefacts made from a patient's scan are served under the patient's consent only.

A lab run on a scan keeps a figure showing the patient's image (and numbers measured on it).
Every lab URL that serves them must ask the policy decision point exactly as viewing the scan
does, and record the answer (access history + ledger): after the patient revokes, the next
request is refused and the refusal is on record. Runs are also private to their creator.
"""

from __future__ import annotations

import base64

import pytest
from django.urls import reverse

from lab.models import LabRun
from lab.services import lab_run_start
from lab.tasks import execute_run
from ledger.models import PendingEvent
from portal.consent_services import consent_grant, consent_revoke
from portal.models import AccessEvent
from tests.factories import ClinicianFactory, PatientFactory, login_verified
from tests.lab.helpers import make_matrix_scan

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n"
# every lab URL that serves something derived from the run's scan
ARTEFACT_URLS = ["lab:run", "lab:status", "lab:figure", "lab-api:run-detail", "lab-api:run-figure"]
FIGURE_URLS = ["lab:figure", "lab-api:run-figure"]


@pytest.fixture
def world():
    """A clinician with a research consent, and a finished NEQR run on the patient's scan (run
    in-process by the task function: no worker needed)."""
    patient = PatientFactory()
    clinician = ClinicianFactory()
    consent = consent_grant(patient=patient, grantee_user=clinician, actions=["view"], purposes=["HRESCH"])
    scan, _ = make_matrix_scan(patient, clinician)
    run = lab_run_start(
        user=clinician, tool="neqr", params={"source": "scan", "scan_id": str(scan.id), "seed": 4}
    )
    assert execute_run.run(str(run.id)) == "done"
    run.refresh_from_db()
    assert run.figure_png
    return {"patient": patient, "clinician": clinician, "consent": consent, "scan": scan, "run": run}


def _leaks_image(response) -> bool:
    body = response.content
    return PNG in body or base64.b64encode(PNG)[:8] in body or b"data:image" in body


def _get(client, name, run):
    return client.get(reverse(name, args=[run.id]), HTTP_ACCEPT="application/json, text/html")


def _events_of(w, **kw):
    return AccessEvent.objects.filter(
        actor=w["clinician"], patient=w["patient"], scan_id=w["scan"].id, purpose="HRESCH", **kw
    )


def test_revocation_closes_every_lab_url_serving_the_runs_artefacts(client, world):
    w = world
    run = w["run"]
    simulation = lab_run_start(user=w["clinician"], tool="bb84", params={"qubits": 100})
    login_verified(client, w["clinician"])

    for name in ARTEFACT_URLS:
        before = _events_of(w, allowed=True).count()
        response = _get(client, name, run)
        assert response.status_code == 200, (name, response.status_code)
        assert _events_of(w, allowed=True).count() == before + 1, f"{name}: the access was not recorded"
        if name in FIGURE_URLS:
            assert response.content.startswith(PNG)
        else:
            assert not _leaks_image(response), f"{name} embeds image bytes"
    assert str(run.id) in client.get(reverse("lab-api:runs")).content.decode()

    consent_revoke(actor=w["patient"], consent=w["consent"])

    for name in ARTEFACT_URLS:
        before = _events_of(w, allowed=False).count()
        response = _get(client, name, run)
        assert response.status_code == 403, (name, response.status_code)
        assert not _leaks_image(response), f"{name} leaks the figure after revocation"
        assert b"revoked" in response.content, f"{name} does not say why"
        refusals = _events_of(w, allowed=False, reason="consent_revoked")
        assert refusals.count() == before + 1, f"{name}: the refusal was not recorded"
        ledger_event = refusals.order_by("-at").first().ledger_event_id
        assert PendingEvent.objects.filter(event_id=ledger_event, event_type="access.denied").exists()
    # nor is it listed any more (its message and figure link are derived from the scan)
    listed = {row["id"] for row in client.get(reverse("lab-api:runs")).json()["results"]}
    assert listed == {str(simulation.id)}
    index = client.get(reverse("lab:index")).content.decode()
    assert reverse("lab:run", args=[run.id]) not in index
    assert reverse("lab:run", args=[simulation.id]) in index


def test_another_clinician_cannot_read_the_run_even_with_a_consent(client, world):
    w = world
    other = ClinicianFactory()
    consent_grant(patient=w["patient"], grantee_user=other, actions=["view"], purposes=["HRESCH"])
    login_verified(client, other)
    for name in ARTEFACT_URLS:
        response = _get(client, name, w["run"])
        assert response.status_code == 404, (name, response.status_code)
        assert not _leaks_image(response)
    assert str(w["run"].id) not in client.get(reverse("lab-api:runs")).content.decode()


def test_the_figure_is_never_stored_by_a_cache(client, world):
    login_verified(client, world["clinician"])
    for name in FIGURE_URLS:
        response = _get(client, name, world["run"])
        assert response.status_code == 200
        cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= cache_control, (name, response["Cache-Control"])


def test_a_simulation_not_made_from_a_scan_stays_its_creators_and_is_not_recorded(client):
    owner = ClinicianFactory()
    run = lab_run_start(user=owner, tool="bb84", params={"qubits": 100})
    LabRun.objects.filter(pk=run.id).update(status="done", progress=100, figure_png=PNG + b"fig")
    login_verified(client, owner)
    for name in ARTEFACT_URLS:
        assert _get(client, name, run).status_code == 200, name
    assert not AccessEvent.objects.exists()
    login_verified(client, ClinicianFactory())
    for name in ARTEFACT_URLS:
        assert _get(client, name, run).status_code == 404, name


def test_break_glass_opens_no_research_access(client):
    """Emergency access is for treatment: under break-glass a clinician may view the scan, but
    neither read it for research over the API nor run a lab tool on it."""
    from portal.consent_services import breakglass_open

    patient, clinician = PatientFactory(), ClinicianFactory()
    scan, _ = make_matrix_scan(patient, clinician)
    breakglass_open(clinician=clinician, patient=patient, reason="unconscious in the ED")
    login_verified(client, clinician)
    url = reverse("imaging-api:scan-detail", args=[scan.id])
    assert client.get(url).status_code == 200
    assert client.get(url, HTTP_X_PURPOSE_OF_USE="HRESCH").status_code in (403, 404)
    response = client.post(
        reverse("lab-api:runs"),
        {"tool": "neqr", "params": {"source": "scan", "scan_id": str(scan.id), "seed": 1}},
        content_type="application/json",
    )
    assert response.status_code in (400, 403, 404), response.content
    assert not LabRun.objects.filter(created_by=clinician).exists()
