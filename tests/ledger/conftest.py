import pytest


@pytest.fixture
def ledger_settings(settings):
    settings.LEDGER_ORIGIN = "test.qmedchain.local/ledger"
    settings.LEDGER_CHECKPOINT_EVERY = 5
    return settings


@pytest.fixture
def seeded(db, ledger_settings):
    """12 appended entries, checkpoints at 5 and 10 (every 5) and a final one at 12."""
    from ledger.demo import demo_payload
    from ledger.services import append_all, create_checkpoint, record_event

    ids = []
    for i in range(12):
        t, p = demo_payload(i)
        ids.append(record_event(event_type=t, payload=p))
        if i in (4, 9):
            append_all()
    append_all()
    create_checkpoint()
    return ids
