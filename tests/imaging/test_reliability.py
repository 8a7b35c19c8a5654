"""Reliability on the real broker and database: SIGKILL mid-scan, three copies of every
message delivered concurrently, storage outage with retries (also as real permission
errors of an unprivileged worker), failure after max retries + retry from the UI,
corrupted blobs on read, partial temp files removed at start-up."""

import json
import os
import time

import pytest
from django.urls import reverse

from imaging import pipeline
from imaging.models import Scan, ScanObject, ScanStatus, StagedObject
from imaging.pipeline import faults
from imaging.storage import LocalCAS
from tests.conftest import wait_for
from tests.imaging.conftest import blob_files, dicom_bytes, png_bytes, upload_file


def upload(client, patient, data=None, name="ct.dcm"):
    resp = client.post(
        "/api/v1/scans", {"patient": str(patient.pk), "file": upload_file(data or dicom_bytes(), name)}
    )
    assert resp.status_code == 202, resp.content
    return Scan.objects.get(pk=resp.json()["id"])


def registered_entries(scan_id):
    import json

    from ledger.models import Entry, EntryOpening, PendingEvent

    # the public entries show commitments only; the private index says which scan each is about
    events = [
        o.event_id
        for o in EntryOpening.objects.filter(event_type="scan.registered")
        if json.loads(o.openings)["scan_id"]["value"] == str(scan_id)
    ]
    appended = list(Entry.objects.filter(event_id__in=events))
    pending = list(PendingEvent.objects.filter(event_id__in=events))
    return appended, pending


def status_is(scan_id, *statuses):
    return lambda: Scan.objects.get(pk=scan_id).status in statuses


@pytest.fixture
def worker_env(celery_worker):
    """Restart the worker with `env`, and optionally `concurrency` pool processes or a command
    `prefix`; the test's end restores the default worker."""

    def apply(*, concurrency: int = 1, prefix: list[str] | None = None, **env):
        celery_worker.extra_env = {"QMC_FAULTS": "1", **{k: str(v) for k, v in env.items()}}
        celery_worker.concurrency, celery_worker.prefix = concurrency, prefix or []
        celery_worker.restart()

    yield apply
    if getattr(celery_worker, "extra_env", None) or celery_worker.concurrency != 1 or celery_worker.prefix:
        celery_worker.extra_env, celery_worker.concurrency, celery_worker.prefix = {}, 1, []
        celery_worker.restart()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drained")
def test_sigkill_mid_scan_completes_exactly_once(celery_worker, worker_env, doc_client, patient):
    fast = {"QMC_SCAN_HOLDER_TIMEOUT": 3, "QMC_SCAN_SWEEP_SECONDS": 1}
    worker_env(QMC_TEST_STAGE_DELAY="stored=5", **fast)
    before = blob_files()
    scan = upload(doc_client, patient)
    # wait until the first derived blob is written but its row not yet committed, then kill
    wait_for(lambda: len(blob_files() - before) >= 2, timeout=60, what="first derived blob written")
    assert Scan.objects.get(pk=scan.pk).status == ScanStatus.STORING
    celery_worker.kill()
    assert not ScanObject.objects.filter(scan=scan).exclude(kind="original").exists()
    # its message stays unacknowledged at the broker for the visibility timeout (an hour);
    # the restarted worker's sweep sees the holder's heartbeat stop and dispatches it again
    celery_worker.extra_env = {k: str(v) for k, v in fast.items()}
    celery_worker.start()
    back = time.monotonic()
    wait_for(status_is(scan.pk, ScanStatus.DONE, ScanStatus.FAILED), timeout=30, what="scan to finish")
    assert time.monotonic() - back < 20  # seconds, not the visibility timeout
    scan.refresh_from_db()
    assert scan.status == ScanStatus.DONE, scan.failure_reason
    assert scan.attempts == 2
    wait_for(lambda: registered_entries(scan.pk)[0], timeout=60, what="ledger append")
    appended, pending = registered_entries(scan.pk)
    assert len(appended) == 1 and not pending
    objs = ScanObject.objects.filter(scan=scan)
    assert objs.count() == 3 and not StagedObject.objects.filter(scan=scan).exists()
    assert blob_files() - before == {o.cid for o in objs}  # one set of blobs, no orphan


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drained")
def test_storage_outage_retries_then_fails_then_retry_from_ui(
    celery_worker, worker_env, doc_client, patient, tmp_path, settings
):
    flag = tmp_path / "storage-down"
    backoff = {"QMC_SCAN_RETRY_BACKOFF": 1, "QMC_SCAN_RETRY_BACKOFF_MAX": 2}
    # 1) outage while processing: retries with backoff, completes when storage is back. Many
    # retries allowed here: with full jitter, a few short delays in a row could otherwise
    # use up a small allowance before this test sees the second attempt
    worker_env(QMC_TEST_STORAGE_DOWN_FILE=flag, QMC_SCAN_MAX_RETRIES=50, **backoff)
    flag.touch()
    scan = upload(doc_client, patient)
    wait_for(lambda: Scan.objects.get(pk=scan.pk).attempts >= 2, timeout=30, what="retries")
    assert Scan.objects.get(pk=scan.pk).status not in (ScanStatus.DONE, ScanStatus.FAILED)
    flag.unlink()
    wait_for(status_is(scan.pk, ScanStatus.DONE, ScanStatus.FAILED), timeout=60, what="scan to finish")
    scan.refresh_from_db()
    assert scan.status == ScanStatus.DONE and scan.attempts >= 2

    # 2) outage longer than the retries: failed with a reason, nothing lost, retry from the UI
    worker_env(QMC_TEST_STORAGE_DOWN_FILE=flag, QMC_SCAN_MAX_RETRIES=4, **backoff)
    flag.touch()
    scan2 = upload(doc_client, patient, png_bytes(256, 256), "x.png")
    wait_for(status_is(scan2.pk, ScanStatus.FAILED, ScanStatus.DONE), timeout=60, what="scan to fail")
    scan2.refresh_from_db()
    assert scan2.status == ScanStatus.FAILED
    assert "storage" in scan2.failure_reason.lower() and "retry" in scan2.failure_reason.lower()
    original = ScanObject.objects.get(scan=scan2, kind="original")
    assert LocalCAS(settings.QMC_BLOB_DIR).exists(original.cid)  # nothing lost
    page = doc_client.get(reverse("imaging:scan", args=[scan2.pk])).content.decode()
    assert scan2.failure_reason[:40] in page and "Retry processing" in page
    flag.unlink()
    resp = doc_client.post(reverse("imaging:retry", args=[scan2.pk]))
    assert resp.status_code == 302
    wait_for(status_is(scan2.pk, ScanStatus.DONE, ScanStatus.FAILED), timeout=60, what="retried scan")
    scan2.refresh_from_db()
    assert scan2.status == ScanStatus.DONE, scan2.failure_reason
    wait_for(lambda: registered_entries(scan2.pk)[0], timeout=60, what="ledger append")
    assert len(registered_entries(scan2.pk)[0]) == 1


COPIES = 3
CONCURRENT_SCANS = 12


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drained")
def test_three_concurrent_copies_of_every_message_leave_one_set_of_blobs_and_one_event(
    celery_worker, worker_env, patient, monkeypatch, settings
):
    """The issue's race on the real worker: three pool processes, each scan's message sent
    three times back to back, so copies run at the same time. Only the delivery holding the
    scan writes; the others give up at once. Also: the worker's start-up sweep removes a
    partial temporary file left by a write cut off long ago."""
    from pathlib import Path

    from imaging import services
    from imaging.services import scan_upload
    from imaging.tasks import process_scan
    from ledger.models import Entry, PendingEvent
    from ledger.verification import verify_database

    tmp = Path(settings.QMC_BLOB_DIR) / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    left, fresh = tmp / "deadbeef.cutoff.part", tmp / "deadbeef.writing.part"
    for path in (left, fresh):
        path.write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(left, (hour_ago, hour_ago))
    # no re-dispatch of unclaimed scans during the test: every delivery here is a copy we sent
    worker_env(concurrency=3, QMC_SCAN_REDISPATCH_SECONDS=600)
    wait_for(lambda: not left.exists(), timeout=30, what="the start-up sweep to remove the partial file")
    assert fresh.exists()  # younger than QMC_BLOB_TMP_MAX_AGE: may be a write in progress
    fresh.unlink()
    from datetime import timedelta

    from django.utils import timezone

    from imaging.models import ScanWorker

    def beating() -> int:
        return ScanWorker.objects.filter(last_seen__gte=timezone.now() - timedelta(seconds=5)).count()

    wait_for(lambda: beating() >= 3, timeout=30, what="each pool process's heartbeat (its own thread)")

    monkeypatch.setattr(services, "_enqueue", lambda scan_id: None)  # the copies are sent below
    before = blob_files()
    scans = [
        scan_upload(
            uploader=patient, patient=patient, file=upload_file(png_bytes(96, 80, seed=i), f"{i}.png")
        )
        for i in range(CONCURRENT_SCANS)
    ]
    ids = [s.pk for s in scans]
    for scan in scans:
        for _ in range(COPIES):
            process_scan.apply_async(args=[str(scan.pk)])
    final = [ScanStatus.DONE, ScanStatus.FAILED]
    wait_for(
        lambda: Scan.objects.filter(pk__in=ids, status__in=final).count() == len(ids),
        timeout=180,
        what="every scan to finish",
    )
    rows = list(Scan.objects.filter(pk__in=ids).values_list("status", "attempts", "failure_reason"))
    assert {(status, attempts) for status, attempts, _ in rows} == {(ScanStatus.DONE, 1)}, rows
    objs = ScanObject.objects.filter(scan__in=ids)
    assert objs.count() == 3 * len(ids) and not StagedObject.objects.filter(scan__in=ids).exists()
    assert blob_files() - before == set(objs.values_list("cid", flat=True))  # no orphan, none missing
    events = [pipeline.ledger_event_id(pk) for pk in ids]
    wait_for(
        lambda: (
            Entry.objects.filter(event_id__in=events).count() == len(ids)
            and not PendingEvent.objects.filter(event_id__in=events).exists()
        ),
        timeout=60,
        what="one appended scan.registered per scan",
    )
    assert set(Entry.objects.filter(event_id__in=events).values_list("event_type", flat=True)) == {
        "scan.registered"
    }
    assert verify_database()["ok"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drained")
def test_read_only_store_folders_are_an_outage_the_worker_retries(
    celery_worker, worker_env, doc_client, patient, settings
):
    """The worker runs without the capabilities that let root ignore file permissions, as
    an unprivileged worker would, and the store's temporary folder is made read-only (every
    write starts there): its puts fail with EACCES, which must be retried as a storage
    outage (not fail the scan at once), and the scan completes once the folder is writable
    again. (tests/imaging/storage/test_localcas.py covers every folder and call.)"""
    import shutil
    from pathlib import Path

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop the permission-override capabilities")
    unprivileged = [
        "setpriv",
        "--bounding-set=-dac_override,-dac_read_search",
        "--inh-caps=-dac_override,-dac_read_search",
    ]
    worker_env(
        prefix=unprivileged, QMC_SCAN_MAX_RETRIES=50, QMC_SCAN_RETRY_BACKOFF=1, QMC_SCAN_RETRY_BACKOFF_MAX=2
    )
    tmp = Path(settings.QMC_BLOB_DIR) / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        tmp.chmod(0o555)
        scan = upload(doc_client, patient)  # this test process is root: its own put goes through
        wait_for(lambda: Scan.objects.get(pk=scan.pk).attempts >= 2, timeout=60, what="a retry")
        scan.refresh_from_db()
        assert scan.status not in (ScanStatus.DONE, ScanStatus.FAILED), scan.failure_reason
    finally:
        tmp.chmod(0o755)
    wait_for(status_is(scan.pk, ScanStatus.DONE, ScanStatus.FAILED), timeout=60, what="scan to finish")
    scan.refresh_from_db()
    assert scan.status == ScanStatus.DONE, scan.failure_reason
    assert "PermissionError" not in celery_worker.log_path.read_text()


# --- in-process checks of the same machinery (fast) --------------------------------------------


class Crash(BaseException):
    pass


@pytest.mark.django_db
def test_redelivery_after_crash_between_put_and_commit_reuses_the_same_ciphertext(patient, monkeypatch):
    from imaging.services import scan_upload

    before = blob_files()
    scan = scan_upload(
        uploader=patient, patient=patient, file=upload_file(dicom_bytes("MR_small.dcm"), "a.dcm")
    )

    def crash(point):
        if point == "stored":
            raise Crash()

    monkeypatch.setattr(faults, "point", crash)
    with pytest.raises(Crash):
        pipeline.run(scan.pk)
    assert StagedObject.objects.filter(scan=scan).count() == 2
    monkeypatch.setattr(faults, "point", lambda point: None)
    assert pipeline.run(scan.pk) == ScanStatus.DONE
    assert pipeline.run(scan.pk) == ScanStatus.DONE  # a duplicate message is a no-op
    scan.refresh_from_db()
    assert scan.attempts == 2
    assert blob_files() - before == set(ScanObject.objects.filter(scan=scan).values_list("cid", flat=True))
    from ledger.models import Entry, PendingEvent
    from ledger.services import append_all

    # recorded once (no second event from the duplicate delivery), then appended once by
    # the append task the pipeline scheduled
    assert PendingEvent.objects.filter(event_id=scan.ledger_event_id).count() == 1
    append_all()
    assert Entry.objects.filter(event_id=scan.ledger_event_id).count() == 1
    assert not PendingEvent.objects.filter(event_id=scan.ledger_event_id).exists()


@pytest.mark.django_db
def test_redelivery_after_crash_between_staging_and_put_encrypts_again_without_orphans(
    patient, monkeypatch, settings
):
    """The staged CIDs are committed before any derived blob is written; when the worker dies
    in between, the redelivery finds no such blobs, encrypts again under the SAME wrapped data
    keys, records the new CIDs first, and leaves exactly one set of blobs."""
    from imaging.services import scan_upload
    from portal.models import WrappedKey

    before = blob_files()
    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(96, 80), "a.png"))

    def crash(point):
        if point == "storing":
            raise Crash()

    monkeypatch.setattr(faults, "point", crash)
    with pytest.raises(Crash):
        pipeline.run(scan.pk)
    staged = {s.kind: (s.cid, s.ciphertext_sha256) for s in StagedObject.objects.filter(scan=scan)}
    assert set(staged) == {"matrix", "preview"}
    store = LocalCAS(settings.QMC_BLOB_DIR)
    assert not any(store.exists(cid) for cid, _ in staged.values())  # nothing written yet
    wraps = set(
        WrappedKey.objects.filter(
            object_id__in=[pipeline.derived_object_id(scan.pk, k) for k in staged]
        ).values_list("pk", "wrapped")
    )

    monkeypatch.setattr(faults, "point", lambda point: None)
    assert pipeline.run(scan.pk) == ScanStatus.DONE
    objs = {o.kind: o for o in ScanObject.objects.filter(scan=scan)}
    for kind, (cid, digest) in staged.items():
        assert objs[kind].cid != cid and objs[kind].ciphertext_sha256 != digest  # fresh nonce
        assert store.exists(objs[kind].cid)
    # ... under the keys wrapped the first time (no re-wrap)
    assert (
        set(
            WrappedKey.objects.filter(
                object_id__in=[o.id for o in objs.values() if o.kind != "original"]
            ).values_list("pk", "wrapped")
        )
        == wraps
    )
    assert blob_files() - before == {o.cid for o in objs.values()}
    preview = pipeline.read_object(objs["preview"])
    assert preview.startswith(b"\x89PNG")
    import hashlib

    matrix = pipeline.read_object(objs["matrix"])
    scan.refresh_from_db()
    assert hashlib.sha256(matrix).hexdigest() == scan.pixel_sha256


@pytest.mark.django_db
def test_poison_message_is_stopped_by_the_attempt_counter(patient, monkeypatch):
    from imaging.services import scan_upload

    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 64), "a.png"))
    Scan.objects.filter(pk=scan.pk).update(attempts=pipeline.MAX_ATTEMPTS)
    assert pipeline.run(scan.pk) == ScanStatus.FAILED
    scan.refresh_from_db()
    assert "interrupted" in scan.failure_reason


@pytest.mark.django_db
def test_corrupted_blob_on_read_is_detected_and_no_image_shown(doc_client, patient, settings):
    from imaging.services import scan_upload

    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(dicom_bytes(), "a.dcm"))
    assert pipeline.run(scan.pk) == ScanStatus.DONE
    page = doc_client.get(reverse("imaging:scan", args=[scan.pk])).content.decode()
    assert 'id="img-preview"' in page
    store = LocalCAS(settings.QMC_BLOB_DIR)
    preview = ScanObject.objects.get(scan=scan, kind="preview")
    path = store.path_for(preview.cid)
    good = path.read_bytes()
    path.write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])
    try:
        page = doc_client.get(reverse("imaging:scan", args=[scan.pk]))
        html = page.content.decode()
        assert page.status_code == 200
        assert "failed its integrity check" in html
        assert 'id="img-preview"' not in html and 'id="img-matrix"' not in html
        assert "Integrity check FAILED" in html
    finally:
        path.write_bytes(good)

    # a corrupted original makes the pipeline fail with a clear reason (no retry loop)
    scan2 = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 64), "b.png"))
    orig = ScanObject.objects.get(scan=scan2, kind="original")
    p2 = store.path_for(orig.cid)
    p2.write_bytes(b"garbage" + p2.read_bytes()[7:])
    from imaging.tasks import process_scan

    assert process_scan.apply(args=[str(scan2.pk)]).get() == "failed"
    scan2.refresh_from_db()
    assert scan2.status == ScanStatus.FAILED and "integrity check" in scan2.failure_reason
    assert json.dumps(scan2.failure_reason)


@pytest.mark.smoke
@pytest.mark.django_db
def test_a_failing_put_leaves_the_scan_as_staged_and_the_next_delivery_completes_it(patient, monkeypatch):
    """The derived blobs are put after the staging transaction and before the recording one;
    a put that fails must leave the scan as it was after staging: `storing`, both objects
    staged, no ScanObject, no ledger event. The next delivery then completes it."""
    from imaging.services import scan_upload
    from imaging.storage import StorageUnavailable
    from ledger.models import PendingEvent

    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(96, 80), "a.png"))
    real_put = LocalCAS.put

    def put(self, data):
        if len(data) != scan.original_size:  # the upload's own put went through already
            raise StorageUnavailable("the store is down")
        return real_put(self, data)

    monkeypatch.setattr(LocalCAS, "put", put)
    with pytest.raises(StorageUnavailable):
        pipeline.run(scan.pk)
    scan.refresh_from_db()
    assert (scan.status, scan.ledger_event_id) == (ScanStatus.STORING, None)
    assert StagedObject.objects.filter(scan=scan).count() == 2
    assert list(ScanObject.objects.filter(scan=scan).values_list("kind", flat=True)) == ["original"]
    assert not PendingEvent.objects.filter(
        event_type="scan.registered", payload__contains=str(scan.pk)
    ).exists()

    monkeypatch.setattr(LocalCAS, "put", real_put)
    assert pipeline.run(scan.pk) == ScanStatus.DONE
    assert ScanObject.objects.filter(scan=scan).count() == 3
    assert not StagedObject.objects.filter(scan=scan).exists()
