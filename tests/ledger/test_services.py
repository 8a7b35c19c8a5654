import base64
import uuid
from unittest import mock

import pytest

from ledger import chain, merkle, note
from ledger.models import Checkpoint, Entry, EntryOpening, PendingEvent, SigningKey
from ledger.selectors import entry_for_event, opened_facts, receipt_for_event
from ledger.services import LedgerPayloadError, append_pending, create_checkpoint, record_event, rotate_keys

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

PID = "0123456789abcdef0123456789abcdef"
SCAN = "6f1c7e2a-1b2c-4d5e-8f90-0a1b2c3d4e5f"


@pytest.mark.parametrize(
    "event_type,payload,match",
    [
        ("scan.deleted", {"scan_id": SCAN}, "unknown event type"),
        ("scan.registered", {"scan_id": SCAN, "patient": "John Smith"}, "patient"),
        ("scan.registered", {"scan_id": SCAN, "notes": "patient is fine"}, "not allowed"),
        ("scan.registered", {"scan_id": SCAN, "patient_name": "x"}, "not allowed"),
        ("scan.registered", {"scan_id": SCAN, "diagnosis": "Pneumonia in left lung"}, "diagnosis"),
        ("scan.registered", {"scan_id": SCAN, "reason": "alice@example.org"}, "reason"),
        ("scan.registered", {"patient": PID}, "needs scan_id"),
        ("scan.registered", {"scan_id": SCAN, "sha256": "abc"}, "sha256"),
        ("scan.registered", {"scan_id": SCAN, "at": "yesterday"}, "at"),
        ("scan.registered", {"scan_id": SCAN, "score": float("nan")}, "score"),
        ("consent.granted", {"consent_id": SCAN, "grantee": 42.5}, "grantee"),
        ("scan.registered", ["not", "a", "dict"], "dict"),
    ],
)
def test_record_event_rejects_bad_payloads(event_type, payload, match):
    with pytest.raises(LedgerPayloadError, match=match):
        record_event(event_type=event_type, payload=payload)
    assert not PendingEvent.objects.exists()


def test_record_event_is_pending_and_scheduled_on_commit(django_capture_on_commit_callbacks, ledger_settings):
    ledger_settings.LEDGER_APPEND_BATCH = 1  # a request path never signs inline, however many
    with mock.patch("ledger.tasks.append_pending_task.apply_async") as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            eid = record_event(
                event_type="scan.registered",
                payload={"scan_id": uuid.UUID(SCAN), "patient": PID, "pixel_sha256": "a" * 64, "score": 0.93},
            )
        assert enqueue.call_count == 1
        assert enqueue.call_args.kwargs["countdown"] == ledger_settings.LEDGER_APPEND_DELAY
        with django_capture_on_commit_callbacks(execute=True):  # a burst shares that task
            record_event(event_type="scan.accessed", payload={"scan_id": SCAN})
        assert enqueue.call_count == 1
    assert isinstance(eid, uuid.UUID)
    p = PendingEvent.objects.get(event_id=eid)
    # format v2: commitments only in public; the facts behind them in the private index
    assert p.payload.startswith('{"commitments":["') and PID not in p.payload and SCAN not in p.payload
    assert opened_facts(eid) == {"patient": PID, "pixel_sha256": "a" * 64, "scan_id": SCAN, "score": 0.93}
    assert EntryOpening.objects.get(event_id=eid).subject == PID
    assert not Entry.objects.exists() and not SigningKey.objects.exists()  # nothing signed yet
    assert entry_for_event(eid) is None and receipt_for_event(eid) is None


def test_record_event_idempotent_by_event_id(ledger_settings):
    eid = uuid.uuid4()
    assert record_event(event_type="scan.accessed", payload={"scan_id": SCAN}, event_id=eid) == eid
    assert record_event(event_type="scan.accessed", payload={"scan_id": SCAN}, event_id=eid) == eid
    assert PendingEvent.objects.count() == 1
    append_pending()
    assert record_event(event_type="scan.accessed", payload={"scan_id": SCAN}, event_id=eid) == eid
    assert Entry.objects.count() == 1 and not PendingEvent.objects.exists()


@pytest.mark.parametrize("threads", [1, 4])
def test_append_signs_chains_and_checkpoints(ledger_settings, threads):
    ledger_settings.LEDGER_SIGN_THREADS = threads  # 4: a batch's leaves are signed concurrently
    ledger_settings.LEDGER_BATCH_SIGNING = False  # the per-entry form (batch form: test_batch_signing)
    ids = [
        record_event(event_type="scan.accessed", payload={"scan_id": SCAN, "actor": PID}) for _ in range(7)
    ]
    assert append_pending(max_batch=3) == 3
    assert append_pending() == 4
    assert append_pending() == 0
    entries = list(Entry.objects.order_by("index"))
    assert [e.index for e in entries] == list(range(7))
    fkey = SigningKey.objects.get(algorithm=note.ALG_FALCON)
    prev = bytes(32)
    for e, eid in zip(entries, ids, strict=True):
        assert e.event_id == eid and bytes(e.prev_hash) == prev
        assert note.falcon_512.verify(
            bytes(fkey.public_key), chain.entry_message(bytes(e.leaf_hash)), bytes(e.signature)
        )
        prev = bytes(e.leaf_hash)
    # each signature belongs to its own entry (signed concurrently, they must not be shuffled)
    assert not note.falcon_512.verify(
        bytes(fkey.public_key), chain.entry_message(bytes(entries[4].leaf_hash)), bytes(entries[5].signature)
    )
    # checkpoint every 5 entries: one at size 7 (first batch of 3 did not reach 5)
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [7]
    assert create_checkpoint() is None  # nothing new
    # private keys are sealed, not stored in the clear
    from ledger.services import signer_for

    assert signer_for(fkey).private_key not in bytes(fkey.sealed_private_key)


def test_receipt_is_self_contained(seeded):
    receipt = receipt_for_event(seeded[3])
    assert receipt and receipt["tree_size"] == 12
    e = chain.entry_from_json(receipt["entry"])
    keys = [chain.key_from_json(k) for k in receipt["keys"]]
    text, _ = note.open_note(receipt["checkpoint"], keys, require={note.ALG_FALCON, note.ALG_MLDSA})
    cp = note.parse_checkpoint(text)
    proof = [base64.b64decode(p) for p in receipt["inclusion_proof"]]
    merkle.verify_inclusion(e.index, cp.size, chain.record_leaf_hash(e), proof, cp.root)


def test_rotate_keys_is_a_ledger_event(seeded):
    old = set(SigningKey.objects.values_list("key_id", flat=True))
    events = rotate_keys()
    assert len(events) == 3  # Ed25519, Falcon-512, ML-DSA-44
    append_pending()
    rotated = Entry.objects.filter(event_type="key.rotated").order_by("index")
    assert rotated.count() == 3
    new_falcon = SigningKey.objects.get(algorithm=note.ALG_FALCON, retired_at__isnull=True)
    assert new_falcon.key_id not in old
    assert all(e.key_id == new_falcon.key_id for e in rotated)
    assert SigningKey.objects.filter(retired_at__isnull=False).count() == 3
    from ledger.verification import verify_database

    create_checkpoint()
    assert verify_database()["ok"]


def test_schedule_append_batches_a_burst_into_one_delayed_task(settings, monkeypatch):
    from ledger import services

    settings.LEDGER_APPEND_DELAY = 0.4
    settings.LEDGER_APPEND_BATCH = 100
    clock = [1000.0]
    monkeypatch.setattr(services.time, "time", lambda: clock[0])
    monkeypatch.setattr(services, "_append_due", [0.0])
    monkeypatch.setattr(services, "_since_append", [0])
    with mock.patch("ledger.tasks.append_pending_task.apply_async") as enqueue:
        for _ in range(5):  # a burst of recorded scans: one task, due after the delay
            services.schedule_append()
            clock[0] += 0.05
        assert enqueue.call_count == 1
        assert enqueue.call_args.kwargs["countdown"] == 0.4
        clock[0] = 1000.0 + 0.4 - 0.099  # the task is due in < delay/4: it may have started
        services.schedule_append()
        assert enqueue.call_count == 2  # so a new event gets a task of its own
        clock[0] += 1.0
        services.schedule_append()
        assert enqueue.call_count == 3


def test_schedule_append_survives_a_broker_outage(settings, monkeypatch):
    from ledger import services

    monkeypatch.setattr(services, "_append_due", [0.0])
    monkeypatch.setattr(services, "_since_append", [0])
    with mock.patch("ledger.tasks.append_pending_task.apply_async", side_effect=ConnectionError("down")):
        services.schedule_append()  # logged; the periodic checkpoint task appends later
    assert services._append_due == [0.0]  # nothing scheduled, so the next call tries again


def test_every_nth_recorded_event_is_appended_inline(ledger_settings, monkeypatch):
    """A busy worker's scheduled task may wait behind scans: every N-th event is signed
    inline, taking every pending event with it."""
    from ledger import services

    ledger_settings.LEDGER_APPEND_BATCH = 3
    monkeypatch.setattr(services, "_append_due", [0.0])
    monkeypatch.setattr(services, "_since_append", [0])
    with mock.patch("ledger.tasks.append_pending_task.apply_async") as enqueue:
        for i in range(1, 8):
            record_event(event_type="scan.accessed", payload={"scan_id": SCAN}, enqueue=False)
            services.schedule_append()
            assert Entry.objects.count() == 3 * (i // 3)  # appended at the 3rd and 6th
            assert PendingEvent.objects.count() == i % 3
        assert enqueue.call_count >= 1  # the tail waits for the delayed task
