"""The pipeline's hand-written status statements, on whichever database the suite runs
(PostgreSQL in `make test`, SQLite in the smoke run): they must read back exactly what the
ORM would, and never move a scan back or out of `failed`."""

import uuid

import pytest
from django.db import connection

from imaging import pipeline
from imaging.models import Scan, ScanStatus
from imaging.pipeline import claim, record, status
from tests.imaging.conftest import png_bytes, upload_file
from tests.pg_trace import round_trips


def _fields(scan: Scan) -> dict:
    return {f.attname: getattr(scan, f.attname) for f in Scan._meta.concrete_fields}


@pytest.mark.smoke
@pytest.mark.django_db
def test_a_delivery_is_counted_and_the_scan_returned_as_stored(patient):
    from imaging.services import scan_upload

    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 48), "a.png"))
    got = claim.count_delivery(scan.pk)
    stored = Scan.objects.get(pk=scan.pk)
    assert (got.status, got.attempts) == (ScanStatus.PREPROCESSING, 1)
    assert _fields(got) == _fields(stored)  # every column converted as the ORM converts it
    assert isinstance(got.id, uuid.UUID) and got.patient_id == patient.pk
    again = claim.count_delivery(str(scan.pk))  # a second delivery: counted, status kept
    assert (again.status, again.attempts) == (ScanStatus.PREPROCESSING, 2)


@pytest.mark.smoke
@pytest.mark.django_db
@pytest.mark.parametrize("final", [ScanStatus.DONE, ScanStatus.FAILED])
def test_a_finished_scan_is_not_counted_or_touched(patient, final):
    from imaging.services import scan_upload

    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 48), "a.png"))
    Scan.objects.filter(pk=scan.pk).update(status=final)
    assert claim.count_delivery(scan.pk) is None
    assert pipeline.run(scan.pk) == final
    scan.refresh_from_db()
    assert (scan.status, scan.attempts) == (final, 0)


@pytest.mark.smoke
@pytest.mark.django_db
def test_a_deleted_scan_is_reported_missing():
    assert pipeline.run(uuid.uuid4()) == "missing"


@pytest.mark.smoke
@pytest.mark.django_db
def test_status_moves_forward_only_and_reports_the_rows_status(patient):
    from imaging.services import scan_upload

    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 48), "a.png"))
    status.advance(scan, ScanStatus.STORING, width=64)
    assert scan.status == ScanStatus.STORING
    stale = Scan.objects.get(pk=scan.pk)
    stale.status = ScanStatus.PREPROCESSING  # a delivery that still thinks it is early on
    status.advance(stale, ScanStatus.DIAGNOSING, height=48)
    assert stale.status == ScanStatus.STORING  # not moved back; told where the row is
    assert Scan.objects.filter(pk=scan.pk).values_list("status", "width", "height").get() == (
        ScanStatus.STORING,
        64,
        48,
    )
    Scan.objects.filter(pk=scan.pk).update(status=ScanStatus.FAILED, failure_reason="stopped by hand")
    with pytest.raises(pipeline.PipelineFailure, match="stopped by hand"):
        status.advance(scan, ScanStatus.RECORDING)
    assert Scan.objects.get(pk=scan.pk).status == ScanStatus.FAILED


@pytest.mark.smoke
@pytest.mark.django_db
def test_finish_marks_done_once_and_never_a_failed_scan(patient):
    from django.db import transaction

    from imaging.services import scan_upload

    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 48), "a.png"))
    Scan.objects.filter(pk=scan.pk).update(status=ScanStatus.STORING, failure_reason="old")
    # the recording transaction fails after `_finish`: nothing of it stays
    with pytest.raises(RuntimeError), transaction.atomic():
        assert record.finish(scan) is True
        raise RuntimeError("the ledger insert failed")
    assert Scan.objects.filter(pk=scan.pk).values_list("status", "ledger_event_id").get() == (
        ScanStatus.STORING,
        None,
    )
    assert record.finish(scan) is True
    row = Scan.objects.get(pk=scan.pk)
    assert (row.status, row.failure_reason, row.ledger_event_id) == (
        ScanStatus.DONE,
        "",
        pipeline.ledger_event_id(scan.pk),
    )
    assert _fields(row)["updated_at"] == scan.updated_at
    late = Scan.objects.get(pk=scan.pk)
    assert record.finish(late) is False  # a concurrent delivery finished it first
    Scan.objects.filter(pk=scan.pk).update(status=ScanStatus.FAILED, failure_reason="stopped by hand")
    with pytest.raises(pipeline.PipelineFailure, match="stopped by hand"):
        record.finish(late)
    assert Scan.objects.get(pk=scan.pk).status == ScanStatus.FAILED


@pytest.mark.django_db(transaction=True)  # real transactions: their BEGIN and COMMIT are counted
def test_a_scan_costs_twenty_two_database_round_trips_on_postgresql(patient, monkeypatch):
    """Every statement is its own round trip, sent when the runner reaches it: the
    connection health check; the delivery's claim, the original, the active model, the
    `diagnosing` and `encrypting` statuses; the staging transaction (BEGIN, the `storing`
    UPDATE, what is staged or stored, the readers' keys, the wraps, the staged rows, COMMIT)
    and the recording one (BEGIN, the `done` UPDATE, its reads, the objects, the staged rows
    deleted, the ledger's pending event and opening in one statement, COMMIT). 22 on the
    protocol trace; a statement added anywhere adds one.

    Ten was the count when these were sent in batches (psycopg pipeline mode, with a raw
    COMMIT sent inside Django's atomic block, `portal.db_batch`). bench/pipeline.py measured
    the worker's CPU per scan without the batches within the noise of with them, far from
    the 10 % that would justify that machinery (README "Scans"), so the pipeline now uses
    plain Django queries. The worker's heartbeat is one more statement when one is due
    (not here: it was just written)."""
    if connection.vendor != "postgresql":
        pytest.skip("counted on PostgreSQL")
    import time

    from imaging import services
    from imaging.pipeline import leases
    from imaging.services import scan_upload

    monkeypatch.setattr(services, "_enqueue", lambda scan_id: None)  # no worker races this test
    first, scan = (
        scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 48), name))
        for name in ("a.png", "b.png")
    )
    pipeline.run(first.pk)  # registers the built-in diagnosis models, once per database
    connection.health_check_done = False  # as at the start of a task
    monkeypatch.setattr(leases, "_last_beat", [time.monotonic()])  # no heartbeat due
    trips, status = round_trips(lambda: pipeline.run(scan.pk))
    assert status == ScanStatus.DONE
    assert Scan.objects.get(pk=scan.pk).status == ScanStatus.DONE
    assert trips == 22
