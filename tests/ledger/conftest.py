import pytest


@pytest.fixture
def ledger_settings(settings):
    settings.LEDGER_ORIGIN = "test.qmedchain.local/ledger"
    settings.LEDGER_CHECKPOINT_EVERY = 5
    return settings


@pytest.fixture
def seeded(db, ledger_settings):
    """12 appended entries, checkpoints at 5 and 10 (every 5) and a final one at 12, in the
    per-entry signature form (older entries; the batch form: `seeded_batches`)."""
    from ledger.demo import demo_payload
    from ledger.services import append_all, create_checkpoint, record_event

    ledger_settings.LEDGER_BATCH_SIGNING = False
    ids = []
    for i in range(12):
        t, p = demo_payload(i)
        ids.append(record_event(event_type=t, payload=p))
        if i in (4, 9):
            append_all()
    append_all()
    create_checkpoint()
    return ids


@pytest.fixture
def seeded_batches(db, ledger_settings):
    """Mixed log: entries 0..3 signed per entry (the old form), then batches [4..8] and
    [9..12] (one signature each), checkpoints at 4, 9 and 13 (every 5 is reached only there)."""
    from ledger.demo import demo_payload
    from ledger.services import append_all, create_checkpoint, record_event

    ids = []
    ledger_settings.LEDGER_BATCH_SIGNING = False
    for i in range(4):
        ids.append(record_event(event_type=demo_payload(i)[0], payload=demo_payload(i)[1]))
    append_all()
    create_checkpoint()
    ledger_settings.LEDGER_BATCH_SIGNING = True
    for i in range(4, 13):
        t, p = demo_payload(i)
        ids.append(record_event(event_type=t, payload=p))
        if i == 8:
            append_all()
    append_all()
    create_checkpoint()
    return ids
