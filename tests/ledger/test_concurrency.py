"""Several OS processes appending at once: one gap-free sequence, no forks; and the real worker."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from ledger.models import Entry, PendingEvent
from ledger.selectors import entry_for_event
from ledger.services import record_event
from ledger.verification import verify_database

ROOT = Path(__file__).resolve().parents[2]


def _db_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_four_concurrent_appender_processes(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("multi-process row locking is exercised on PostgreSQL (SQLite serialises the whole file)")
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_db_url(),
        SECRET_KEY=settings.SECRET_KEY,
        QMC_MASTER_KEY=settings.QMC_MASTER_KEY,
        QMC_VAR_DIR=str(settings.VAR_DIR),
        CELERY_BROKER_URL="memory://",
    )
    per, batch = 25, 5
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ledger.appender", str(per), str(batch)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    total = sum(json.loads(out.strip().splitlines()[-1])["appended"] for out, _ in outs)
    assert total == 4 * per
    indexes = list(Entry.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(4 * per))  # zero gaps
    rows = list(Entry.objects.order_by("index").values_list("prev_hash", "leaf_hash"))
    for (prev, _), (_, leaf) in zip(rows[1:], rows[:-1], strict=True):  # zero forks
        assert bytes(prev) == bytes(leaf)
    assert not PendingEvent.objects.exists()
    report = verify_database()
    assert report["ok"], report


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_record_event_is_appended_by_the_real_worker(celery_worker):
    with transaction.atomic():
        eid = record_event(event_type="scan.registered", payload={"scan_id": 7, "pixel_sha256": "b" * 64})
    deadline = time.monotonic() + 90
    while entry_for_event(eid) is None and time.monotonic() < deadline:
        time.sleep(0.3)
    e = entry_for_event(eid)
    assert e is not None, "worker did not append the event"
    assert e.event_type == "scan.registered" and not PendingEvent.objects.filter(event_id=eid).exists()
