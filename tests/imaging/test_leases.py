"""Claims, heartbeats and the sweep (imaging.leases), in process: a delivery that does not
hold the scan writes nothing, one that loses it cleans up, and the sweep dispatches again
exactly the scans nobody alive is working on."""

import uuid
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from imaging import pipeline
from imaging.models import Scan, ScanObject, ScanStatus, ScanWorker, StagedObject
from imaging.pipeline import broker, faults, leases
from imaging.pipeline import store as storing
from tests.imaging.conftest import blob_files, png_bytes, upload_file

OTHER = "other-host:4242"


def _upload(patient, monkeypatch=None):
    from imaging import services
    from imaging.services import scan_upload

    if monkeypatch is not None:
        monkeypatch.setattr(services, "_enqueue", lambda scan_id: None)
    return scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(80, 64), "a.png"))


def _held_by(scan, name, *, seen_ago: float):
    ScanWorker.objects.update_or_create(
        name=name, defaults={"last_seen": timezone.now() - timedelta(seconds=seen_ago)}
    )
    Scan.objects.filter(pk=scan.pk).update(claim=uuid.uuid4(), claimed_by=name)


@pytest.fixture(autouse=True)
def _no_recent_heartbeat(monkeypatch):
    """This process's heartbeat row, written by an earlier test, was rolled back with it."""
    monkeypatch.setattr(leases, "_last_beat", [0.0])


@pytest.fixture
def dispatched(monkeypatch):
    sent = []
    monkeypatch.setattr(broker, "dispatch", lambda scan_id: sent.append(str(scan_id)) or True)
    return sent


@pytest.mark.smoke
@pytest.mark.django_db
def test_a_copy_of_the_message_writes_nothing_while_a_live_delivery_holds_the_scan(patient):
    scan = _upload(patient)
    before = blob_files()
    _held_by(scan, OTHER, seen_ago=1)
    assert pipeline.run(scan.pk) == "held"
    row = Scan.objects.get(pk=scan.pk)
    assert (row.status, row.attempts, row.claimed_by) == (ScanStatus.QUEUED, 0, OTHER)
    assert not StagedObject.objects.filter(scan=scan).exists()
    assert ScanObject.objects.filter(scan=scan).count() == 1  # the original only
    assert blob_files() == before


@pytest.mark.smoke
@pytest.mark.django_db
def test_a_delivery_takes_over_a_scan_whose_holder_stopped_beating(patient):
    scan = _upload(patient)
    _held_by(scan, OTHER, seen_ago=leases.HOLDER_TIMEOUT + 5)
    assert pipeline.run(scan.pk) == ScanStatus.DONE
    row = Scan.objects.get(pk=scan.pk)
    assert (row.status, row.attempts, row.claim, row.claimed_by) == (ScanStatus.DONE, 1, None, "")
    assert ScanWorker.objects.filter(name=leases.identity()).exists()  # the holder's heartbeat


@pytest.mark.django_db
def test_a_delivery_whose_claim_is_taken_over_stops_and_deletes_the_blobs_no_row_names(patient, monkeypatch):
    """The issue's race: as this delivery starts its puts, another delivery (this one's worker
    seemed dead) takes the scan and re-stages its objects under new CIDs. This delivery must
    not record anything, and the blobs it put, which no row names, must go."""
    scan = _upload(patient)
    before = blob_files()

    def taken_over(point):
        if point == "storing":  # staged by this delivery, its puts about to start
            _held_by(scan, OTHER, seen_ago=0)
            StagedObject.objects.filter(scan=scan).update(cid="bafkrei" + "a" * 52)

    monkeypatch.setattr(faults, "point", taken_over)
    with pytest.raises(pipeline.ClaimLost):
        pipeline.run(scan.pk)
    row = Scan.objects.get(pk=scan.pk)
    assert row.status == ScanStatus.STORING and row.claimed_by == OTHER
    assert ScanObject.objects.filter(scan=scan).count() == 1
    assert blob_files() == before  # no orphan


@pytest.mark.django_db
def test_a_delivery_that_loses_the_scan_keeps_the_blobs_rows_name(patient, monkeypatch):
    scan = _upload(patient)
    before = blob_files()

    def taken_over(point):
        if point == "storing":
            _held_by(scan, OTHER, seen_ago=0)

    monkeypatch.setattr(faults, "point", taken_over)
    with pytest.raises(pipeline.ClaimLost):
        pipeline.run(scan.pk)
    staged = set(StagedObject.objects.filter(scan=scan).values_list("cid", flat=True))
    assert len(staged) == 2 and blob_files() - before == staged  # the new holder uses them
    # the holder dies too: the next delivery takes over and finishes with those very blobs
    ScanWorker.objects.filter(name=OTHER).update(last_seen=timezone.now() - timedelta(hours=1))
    monkeypatch.setattr(faults, "point", lambda point: None)
    assert pipeline.run(scan.pk) == ScanStatus.DONE
    assert (
        set(ScanObject.objects.filter(scan=scan).exclude(kind="original").values_list("cid", flat=True))
        == staged
    )


@pytest.mark.django_db
def test_a_restage_is_refused_to_a_delivery_that_lost_the_scan(patient, monkeypatch):
    """Re-encrypting a staged object whose blob never landed happens under the scan's row
    lock and only for the claim holder (the issue's unlocked update of the staged row)."""
    scan = _upload(patient)

    def crash(point):
        if point == "storing":
            raise KeyboardInterrupt

    monkeypatch.setattr(faults, "point", crash)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(scan.pk)
    staged = dict(StagedObject.objects.filter(scan=scan).values_list("kind", "cid"))
    before = blob_files()
    real_restage = storing.restage

    def restage_after_takeover(scan_, staged_, plaintext):
        _held_by(scan, OTHER, seen_ago=0)
        return real_restage(scan_, staged_, plaintext)

    monkeypatch.setattr(faults, "point", lambda point: None)
    monkeypatch.setattr(storing, "restage", restage_after_takeover)
    with pytest.raises(pipeline.ClaimLost):
        pipeline.run(scan.pk)
    assert dict(StagedObject.objects.filter(scan=scan).values_list("kind", "cid")) == staged
    assert blob_files() == before


@pytest.mark.smoke
@pytest.mark.django_db
def test_the_sweep_dispatches_again_exactly_the_scans_nobody_alive_holds(patient, dispatched):
    now = timezone.now()
    scans = {name: _upload(patient) for name in ("dead", "alive", "lost", "recent", "done", "failed")}
    _held_by(scans["dead"], "dead-host:1", seen_ago=leases.HOLDER_TIMEOUT + 1)
    _held_by(scans["alive"], "live-host:1", seen_ago=1)
    Scan.objects.filter(pk=scans["lost"].pk).update(dispatched_at=now - timedelta(minutes=5))
    Scan.objects.filter(pk=scans["recent"].pk).update(dispatched_at=now)
    Scan.objects.filter(pk=scans["done"].pk).update(status=ScanStatus.DONE, dispatched_at=None)
    Scan.objects.filter(pk=scans["failed"].pk).update(status=ScanStatus.FAILED)
    Scan.objects.filter(pk__in=[scans[n].pk for n in ("dead", "alive")]).update(dispatched_at=now)

    # a backlog in the queue: the unclaimed scan's message may be in it, so it waits
    assert pipeline.requeue_stalled(backlog=lambda: 3) == [str(scans["dead"].pk)]
    assert Scan.objects.get(pk=scans["dead"].pk).claim is None
    assert pipeline.requeue_stalled(backlog=lambda: 3) == []  # sent once, not every sweep
    assert pipeline.requeue_stalled(backlog=lambda: 0) == [str(scans["lost"].pk)]
    assert pipeline.requeue_stalled(backlog=lambda: 0) == []
    assert dispatched == [str(scans["dead"].pk), str(scans["lost"].pk)]
    assert Scan.objects.get(pk=scans["alive"].pk).claimed_by == "live-host:1"


@pytest.mark.django_db
def test_a_retry_releases_the_claim_until_its_countdown_is_due(patient, dispatched):
    scan = _upload(patient)
    token = uuid.uuid4()
    Scan.objects.filter(pk=scan.pk).update(claim=token, claimed_by=leases.identity())
    assert not leases.release(scan.pk, uuid.uuid4(), due_in=60)  # not ours: left alone
    assert leases.release(scan.pk, token, due_in=60)
    row = Scan.objects.get(pk=scan.pk)
    assert row.claim is None and row.dispatched_at > timezone.now() + timedelta(seconds=50)
    assert pipeline.requeue_stalled(backlog=lambda: 0) == []  # the retry message is due later


@pytest.mark.django_db
def test_a_process_releases_its_own_claims_it_is_not_working_on(patient):
    stale, busy = _upload(patient), _upload(patient)
    for scan in (stale, busy):
        Scan.objects.filter(pk=scan.pk).update(claim=uuid.uuid4(), claimed_by=leases.identity())
    with leases.working_on(busy.pk):
        assert leases.release_own_stale() == 1
    assert Scan.objects.get(pk=stale.pk).claim is None
    assert Scan.objects.get(pk=busy.pk).claimed_by == leases.identity()


@pytest.mark.django_db
def test_the_attempt_counter_still_stops_a_scan_that_kills_its_worker_every_time(patient):
    """A scan whose holder dies on every delivery is dispatched again each time, and each
    delivery that claims it counts: after MAX_ATTEMPTS it is failed, not looped forever."""
    scan = _upload(patient)
    for _ in range(pipeline.MAX_ATTEMPTS):
        Scan.objects.filter(pk=scan.pk).update(attempts=F("attempts") + 1)
    _held_by(scan, "dead-host:1", seen_ago=leases.HOLDER_TIMEOUT + 1)
    assert pipeline.run(scan.pk) == ScanStatus.FAILED
    row = Scan.objects.get(pk=scan.pk)
    assert "interrupted" in row.failure_reason and row.claim is None


@pytest.mark.django_db
def test_the_sweep_removes_partial_temp_files_older_than_the_limit(settings, dispatched):
    import os
    import time
    from pathlib import Path

    tmp = Path(settings.QMC_BLOB_DIR) / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    old, fresh = tmp / "cafebabe.cut.part", tmp / "cafebabe.busy.part"
    for path in (old, fresh):
        path.write_bytes(b"partial")
    long_ago = time.time() - leases.TMP_MAX_AGE - 60
    os.utime(old, (long_ago, long_ago))
    try:
        pipeline.requeue_stalled(backlog=lambda: 0)
        assert not old.exists() and fresh.exists()
    finally:
        fresh.unlink(missing_ok=True)
