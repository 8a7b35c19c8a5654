"""Diagnosis model registry: one active model per task, activation on the ledger, admin-only
switching, and the pipeline diagnosing with the active model."""

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse

from imaging import diagnosis, model_registry
from imaging.ml.artifacts import ARTIFACT_DIR, sha256_file
from imaging.models import DiagnosisModel, Scan
from ledger.models import Entry, PendingEvent
from tests.conftest import wait_for
from tests.factories import AdminFactory, AuditorFactory, ClinicianFactory, login_verified


def _event(event_id):
    row = (
        PendingEvent.objects.filter(event_id=event_id).first()
        or Entry.objects.filter(event_id=event_id).first()
    )
    assert row is not None, "no ledger event recorded"
    return row.event_type, json.loads(row.payload)


def _by_kind():
    return {m.kind: m for m in DiagnosisModel.objects.all()}


@pytest.mark.django_db
def test_register_builtin_is_idempotent_and_activates_the_default():
    model_registry.model_register_builtin()
    model_registry.model_register_builtin()
    models = _by_kind()
    kinds = {"classical", "qcnn", "cnn", "ensemble"}
    assert set(models) == kinds and DiagnosisModel.objects.count() == len(kinds)
    for kind, m in models.items():
        assert m.sha256 == sha256_file(ARTIFACT_DIR / f"{kind}.npz")
        assert m.card_text.startswith("# Model card") and m.model_id in m.card_text
        assert 0.5 < m.metrics["auc"] <= 1 and 0.5 < m.metrics["acc"] <= 1
    assert model_registry.DEFAULT_KIND == "ensemble"  # the best on cross-validation (its card)
    assert [k for k, m in models.items() if m.is_active] == [model_registry.DEFAULT_KIND]
    assert PendingEvent.objects.filter(event_type="model.registered").count() == 1
    etype, payload = _event(models["ensemble"].ledger_event_id)
    assert payload["kind"] == "ensemble" and payload["algorithm"] == "svm-cnn-logistic-stacking"


@pytest.mark.django_db
def test_exactly_one_active_model_per_task_is_a_database_constraint():
    model_registry.model_register_builtin()
    qcnn = _by_kind()["qcnn"]
    with pytest.raises(IntegrityError), transaction.atomic():
        DiagnosisModel.objects.filter(pk=qcnn.pk).update(is_active=True)
    # another task may have its own active model
    DiagnosisModel.objects.create(
        task="other", model_id="x", version="1", kind="classical", sha256="0" * 64, is_active=True
    )
    assert DiagnosisModel.objects.filter(is_active=True).count() == 2


@pytest.mark.django_db
def test_activation_switches_atomically_and_writes_model_registered():
    model_registry.model_register_builtin()
    admin = AdminFactory()
    qcnn = _by_kind()["qcnn"]
    model_registry.model_activate(actor=admin, model=qcnn)
    models = _by_kind()
    assert models["qcnn"].is_active and not models[model_registry.DEFAULT_KIND].is_active
    etype, payload = _event(models["qcnn"].ledger_event_id)
    assert etype == "model.registered"
    assert payload["model_id"] == qcnn.model_id and payload["model_sha256"] == qcnn.sha256
    assert payload["version"] == qcnn.version and payload["kind"] == "qcnn"
    assert payload["auc"] == pytest.approx(qcnn.metrics["auc"], abs=1e-6)
    assert payload["accuracy"] == pytest.approx(qcnn.metrics["acc"], abs=1e-6)
    assert payload["role"] == "admin" and len(payload["actor"]) == 32
    # activating the active model again records nothing new
    before = PendingEvent.objects.count()
    model_registry.model_activate(actor=admin, model=models["qcnn"])
    assert PendingEvent.objects.count() == before
    assert diagnosis.active_model()[0].kind == "qcnn"


@pytest.mark.django_db
def test_activation_refuses_an_artifact_that_no_longer_matches():
    model_registry.model_register_builtin()
    qcnn = _by_kind()["qcnn"]
    DiagnosisModel.objects.filter(pk=qcnn.pk).update(sha256="f" * 64)
    with pytest.raises(model_registry.ModelRegistryError, match="no longer matches"):
        model_registry.model_activate(actor=AdminFactory(), model=DiagnosisModel.objects.get(pk=qcnn.pk))
    assert _by_kind()[model_registry.DEFAULT_KIND].is_active
    with pytest.raises(model_registry.ModelRegistryError, match="needs a new version"):
        model_registry.model_register_builtin()


@pytest.mark.django_db
@pytest.mark.parametrize("factory", [ClinicianFactory, AuditorFactory])
def test_non_admin_cannot_switch(client, factory):
    model_registry.model_register_builtin()
    user = factory()
    login_verified(client, user)
    qcnn = _by_kind()["qcnn"]
    assert client.get(reverse("imaging:models")).status_code == 403
    url = reverse("imaging:model-activate", args=[qcnn.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"confirm": "yes"}).status_code == 403
    assert _by_kind()[model_registry.DEFAULT_KIND].is_active and not _by_kind()["qcnn"].is_active
    with pytest.raises(PermissionDenied):
        model_registry.model_activate(actor=user, model=qcnn)


@pytest.mark.django_db
def test_admin_page_lists_models_and_switches_with_confirmation(client):
    admin = AdminFactory()
    login_verified(client, admin)
    page = client.get(reverse("imaging:models"))  # registers lazily on first visit
    html = page.content.decode()
    assert page.status_code == 200
    models = _by_kind()
    for m in models.values():
        assert m.model_id in html and f"{m.metrics['auc']:.4f}" in html
    url = reverse("imaging:model-activate", args=[models["qcnn"].pk])
    confirm = client.get(url)
    assert confirm.status_code == 200 and "I confirm" in confirm.content.decode()
    assert client.post(url, {}).status_code == 400  # no confirmation: nothing changes
    assert _by_kind()[model_registry.DEFAULT_KIND].is_active
    resp = client.post(url, {"confirm": "yes"})
    assert resp.status_code == 302 and resp["Location"] == reverse("imaging:models")
    assert _by_kind()["qcnn"].is_active and not _by_kind()[model_registry.DEFAULT_KIND].is_active
    # CSRF is enforced on the switch
    from django.test import Client

    strict = login_verified(Client(enforce_csrf_checks=True), admin)
    assert strict.post(url, {"confirm": "yes"}).status_code == 403


@pytest.mark.django_db
def test_model_card_page(client):
    model_registry.model_register_builtin()
    login_verified(client, ClinicianFactory())
    m = _by_kind()["qcnn"]
    page = client.get(reverse("imaging:model-card", args=[m.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and m.sha256 in html and 'id="model-card-text"' in html
    assert "not a medical device" in html


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drained")
def test_pipeline_uses_the_active_model(celery_worker, doc_client, patient):
    from tests.imaging.conftest import png_bytes, upload_file
    from tests.imaging.test_pipeline import ledger_facts, wait_done, wait_ledger

    model_registry.model_register_builtin()
    qcnn = _by_kind()["qcnn"]
    model_registry.model_activate(actor=AdminFactory(), model=qcnn)
    resp = doc_client.post(
        "/api/v1/scans", {"patient": str(patient.pk), "file": upload_file(png_bytes(256, 256), "q.png")}
    )
    assert resp.status_code == 202, resp.content
    scan = wait_done(resp.json()["id"], timeout=120)
    assert (scan.model_id, scan.model_version, scan.model_sha256) == (
        qcnn.model_id,
        qcnn.version,
        qcnn.sha256,
    )
    payload = ledger_facts(wait_ledger(scan))
    assert payload["model_id"] == qcnn.model_id and payload["model_sha256"] == qcnn.sha256
    assert qcnn.version in payload["model_id"]  # the scan event has no version field; the id carries it
    # the clinician sees the model, its version and a link to its card
    html = doc_client.get(reverse("imaging:scan", args=[scan.id])).content.decode()
    assert qcnn.model_id in html and 'id="diag-model-card"' in html
    assert reverse("imaging:model-card", args=[qcnn.pk]) in html
    # switch back: the next scan uses the classical model
    classical = _by_kind()["classical"]
    model_registry.model_activate(actor=AdminFactory(), model=classical)
    resp = doc_client.post(
        "/api/v1/scans",
        {"patient": str(patient.pk), "file": upload_file(png_bytes(200, 200, seed=3), "c.png")},
    )
    scan2 = wait_done(resp.json()["id"], timeout=120)
    assert scan2.model_sha256 == classical.sha256
    assert Scan.objects.get(pk=scan.pk).model_sha256 == qcnn.sha256  # earlier diagnoses keep their model
    wait_for(lambda: Entry.objects.filter(event_type="model.registered").count() >= 3, what="model events")
