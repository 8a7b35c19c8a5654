"""Fixtures for the imaging tests: sample files, a clinician with upload consent, blob counting."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.conf import settings

from tests.factories import ClinicianFactory, PatientFactory


def png_bytes(h=512, w=512, dtype=np.uint8, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (np.sin(xx / 17.0) + np.cos(yy / 23.0) + 2) / 4
    img = base + rng.normal(0, 0.05, (h, w))
    top = 255 if dtype == np.uint8 else 65535
    ok, buf = cv2.imencode(".png", np.clip(img * top, 0, top).astype(dtype))
    assert ok
    return buf.tobytes()


def jpeg_bytes(h=512, w=512, seed=1) -> bytes:
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(128, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    img = cv2.GaussianBlur(img, (9, 9), 3)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


CXR_FIXTURES = Path(__file__).resolve().parent / "fixtures"


def cxr_png_bytes(index: int = 0) -> bytes:
    """A real chest X-ray (PneumoniaMNIST validation image `index`: 0, 3, 5 or 7) as PNG bytes:
    an image the applicability gate accepts, so the model diagnoses it."""
    return (CXR_FIXTURES / f"cxr_val{index}.png").read_bytes()


def dicom_bytes(name="CT_small.dcm") -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file(name)).read_bytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(width=30000, height=30000) -> bytes:
    """A valid 1-bit grayscale PNG of width x height, all black: ~110 MB of pixels in ~100 kB."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    parts = []
    block = row * 1000
    for _ in range(height // 1000):
        parts.append(comp.compress(block))
    parts.append(comp.compress(row * (height % 1000)))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")
    )


def dicom_without_pixels() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("rtplan.dcm")).read_bytes()


def blob_files() -> set[str]:
    root = Path(settings.QMC_BLOB_DIR)
    if not root.exists():
        return set()
    return {p.name for p in root.glob("*/bafkrei*")}


@pytest.fixture(scope="session")
def bomb_png() -> bytes:
    return png_bomb()


@pytest.fixture
def patient(db):
    return PatientFactory()


@pytest.fixture
def clinician(db, patient):
    from portal.models import Consent

    doc = ClinicianFactory()
    Consent.objects.create(
        patient=patient,
        grantee_user=doc,
        actions=["upload", "view", "download"],
        purposes=["TREAT"],
        policy_text="test consent",
        created_by=patient,
    )
    return doc


@pytest.fixture
def doc_client(client, clinician):
    client.force_login(clinician)
    _pass_second_factor(client, clinician)
    return client


def _pass_second_factor(client, user) -> None:
    """The portal requires TOTP for clinicians; give the test client a verified device."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()


def upload_file(data: bytes, name="scan.bin", content_type="application/octet-stream"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def as_file(data: bytes):
    return io.BytesIO(data)


def _queue_length() -> int:
    from portal.celery import app

    try:
        with app.connection_for_write() as conn:
            return conn.default_channel.queue_declare(queue="celery", passive=True).message_count
    except Exception:  # noqa: BLE001 - filesystem transport: no cheap way to ask
        return 0


def _worker_busy() -> bool | None:
    """Whether a running worker holds tasks (active, reserved, or scheduled with a countdown
    such as the delayed ledger append, which the queue length does not show); None if no
    worker answers or the broker has no broadcast (the filesystem transport)."""
    from django.conf import settings

    from portal.celery import app

    if not settings.CELERY_BROKER_URL.startswith(("redis", "amqp")):
        return None
    insp = app.control.inspect(timeout=0.5, limit=1)  # the tests run one worker
    replies = [insp.active(), insp.reserved(), insp.scheduled()]
    if all(r is None for r in replies):
        return None
    return any(tasks for r in replies if r for tasks in r.values())


def drain_worker(timeout: float = 60.0, *, scans: bool = True) -> None:
    """Wait until the worker has nothing left to do for this test (pipeline, ledger appends,
    delayed append tasks), so the database flush at teardown does not race (deadlock) with
    a running task. `scans=False`: do not wait for unfinished scans (a test that made
    queued scans without a worker)."""
    import time

    from imaging.models import Scan, ScanStatus
    from ledger.models import PendingEvent

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker = _worker_busy()
        busy = bool(worker) or (
            scans and Scan.objects.exclude(status__in=[ScanStatus.DONE, ScanStatus.FAILED]).exists()
        )
        if worker is not None:  # a worker is up, so recorded events get appended: wait for them
            busy = busy or PendingEvent.objects.exists() or _appender_busy()
        if not busy and _queue_length() == 0:
            time.sleep(1.0)  # let the last delivered task finish its transaction
            if _queue_length() == 0 and not _worker_busy() and not _appender_busy():
                return
        time.sleep(0.2)


def _appender_busy() -> bool:
    """A worker's ledger appender thread (`ledger.appender`) is inside a transaction or query."""
    from django.db import connection

    from ledger.appender import APPLICATION_NAME

    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s AND state <> 'idle'",
            [APPLICATION_NAME],
        )
        return cursor.fetchone()[0] > 0


@pytest.fixture
def drained():
    yield
    drain_worker()
