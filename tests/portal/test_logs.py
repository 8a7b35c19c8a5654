"""Structured logs (core/logs.py, portal/request_id.py, portal/task_signals.py) and Celery task
metrics: a request's id reaches the worker's lines of the tasks it enqueued; no line carries
the patient's data; the worker's task counts and durations reach /metrics."""

import io
import json
import logging
import re

import pytest

from core.logs import ContextFilter, JsonFormatter, TextFormatter, logging_config

FIELDS = {"timestamp", "level", "logger", "message", "request_id", "task_id"}


@pytest.mark.smoke
@pytest.mark.django_db
def test_a_well_formed_request_id_is_kept_and_echoed_and_anything_else_replaced(client):
    kept = client.get("/healthz/live", HTTP_X_REQUEST_ID="nginx-0123456789abcdef")
    assert kept["X-Request-ID"] == "nginx-0123456789abcdef"
    fresh = client.get("/healthz/live")
    assert re.fullmatch(r"[0-9a-f]{32}", fresh["X-Request-ID"])
    assert client.get("/healthz/live")["X-Request-ID"] != fresh["X-Request-ID"]
    for bad in ("short", "x" * 65, "has space inside", "inject\r\nX-Evil: 1", "<script>alert(1)</script>"):
        echoed = client.get("/healthz/live", HTTP_X_REQUEST_ID=bad)["X-Request-ID"]
        assert echoed != bad and re.fullmatch(r"[0-9a-f]{32}", echoed), bad


def _record(msg="hello %s", args=("world",), exc_info=None):
    return logging.LogRecord("qmc.test", logging.WARNING, __file__, 1, msg, args, exc_info)


@pytest.mark.smoke
def test_json_lines_have_the_fields_and_the_context():
    from core.logs import request_id_var, task_id_var

    record = _record()
    rt, tt = request_id_var.set("req-12345678"), task_id_var.set("task-1")
    try:
        ContextFilter().filter(record)
    finally:
        task_id_var.reset(tt)
        request_id_var.reset(rt)
    line = json.loads(JsonFormatter().format(record))
    assert set(line) == FIELDS
    assert line["message"] == "hello world" and line["level"] == "WARNING" and line["logger"] == "qmc.test"
    assert line["request_id"] == "req-12345678" and line["task_id"] == "task-1"
    assert line["timestamp"].endswith("+00:00")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = _record("failed", (), sys.exc_info())
    ContextFilter().filter(failed)
    line = json.loads(JsonFormatter().format(failed))
    assert line["request_id"] is None and "ValueError: boom" in line["exc"]
    assert "\n" not in JsonFormatter().format(failed)  # one line per record
    text = TextFormatter().format(failed)
    assert " WARNING [-] qmc.test failed" in text


def test_log_format_is_checked():
    assert logging_config(fmt="json", level="INFO")["handlers"]["console"]["formatter"] == "json"
    with pytest.raises(ValueError):
        logging_config(fmt="xml", level="INFO")


def _dicom_with_identity(name: str, birth: str, mrn: str) -> bytes:
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = name
    ds.PatientBirthDate = birth
    ds.PatientID = mrn
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def _metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.index("}")]))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.django_db(transaction=True)
def test_request_id_reaches_the_worker_and_no_line_carries_patient_data(
    celery_worker, client, settings, tmp_path, monkeypatch
):
    """One scan's flow, uploaded over HTTP with an X-Request-ID, on a real worker that logs JSON
    and writes its metrics to a PROMETHEUS_MULTIPROC_DIR: the worker's lines of the tasks the
    upload enqueued carry the request id; no line (web or worker) has the patient's name, birth
    date or MRN; /metrics shows the tasks' counts and durations."""
    from portal.models import Consent
    from tests.conftest import wait_for
    from tests.factories import ClinicianFactory, PatientFactory, login_verified
    from tests.imaging.conftest import drain_worker, upload_file

    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    celery_worker.extra_env = {"LOG_FORMAT": "json", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    celery_worker.restart()
    try:
        from tests.ops.test_backup import _classical_model_active

        _classical_model_active()  # off the models being retrained in the working tree
        name, birth, mrn = "Zanzibar^Quentella", "19471103", "MRN-88417-XQ"
        patient = PatientFactory(first_name="Quentella", last_name="Zanzibar")
        doc = ClinicianFactory()
        Consent.objects.create(
            patient=patient,
            grantee_user=doc,
            actions=["upload", "view", "download"],
            purposes=["TREAT"],
            policy_text="test consent",
            created_by=patient,
        )
        login_verified(client, doc)

        web_log = io.StringIO()
        handler = logging.StreamHandler(web_log)
        handler.addFilter(ContextFilter())
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            request_id = "upload-" + "5f3e2d1c0b9a8776"
            resp = client.post(
                "/api/v1/scans",
                {
                    "patient": str(patient.pk),
                    "file": upload_file(_dicom_with_identity(name, birth, mrn), "a.dcm"),
                },
                HTTP_X_REQUEST_ID=request_id,
            )
            assert resp.status_code == 202, resp.content
            assert resp["X-Request-ID"] == request_id
            scan_id = resp.json()["id"]
            from imaging.models import Scan

            wait_for(
                lambda: Scan.objects.get(pk=scan_id).status in ("done", "failed"), timeout=90, what="the scan"
            )
            assert Scan.objects.get(pk=scan_id).status == "done"
            drain_worker()
        finally:
            root.removeHandler(handler)

        worker_text = celery_worker.log_path.read_text()
        lines = []
        for raw in worker_text.splitlines():
            if raw.startswith("{"):
                lines.append(json.loads(raw))
        assert lines, worker_text[-2000:]
        assert all(FIELDS <= set(line) for line in lines)
        ours = [line for line in lines if line["request_id"] == request_id]
        assert ours, "no worker line carries the upload's request id"
        task_ids = {line["task_id"] for line in ours}
        assert None not in task_ids and len(task_ids) >= 1
        assert any(scan_id in line["message"] for line in ours) or any(
            "succeeded" in line["message"] for line in ours
        )

        everything = worker_text + web_log.getvalue()
        for secret in (name, "Zanzibar", "Quentella", birth, "1947-11-03", mrn, patient.email):
            assert secret not in everything, f"{secret!r} appears in the logs"

        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
        settings.QMC_METRICS_ALLOWED_IPS = ["127.0.0.1"]
        text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
        ran = _metric(text, "qmedchain_celery_tasks_total", state="SUCCESS")
        assert ran >= 1, text[:3000]
        timed = _metric(text, "qmedchain_celery_task_duration_seconds_count")
        assert timed >= ran
        tasks = set(re.findall(r'qmedchain_celery_tasks_total\{[^}]*task="([^"]+)"', text))
        assert any(t.startswith("imaging.") for t in tasks), tasks
    finally:
        celery_worker.extra_env = {}
        celery_worker.restart()
