"""Entry format v2 (commitments) beside v1: the log verifies with both, openings are checked
against their commitments (database, receipt, offline verifier), and no health field can
stand in clear in a v2 payload."""

import io
import json
import uuid

import pytest
from django.core.management import call_command

from ledger import canonical, chain, commitment
from ledger.models import Entry, EntryOpening, PendingEvent
from ledger.schema import HEALTH_FIELDS, PayloadError, clean_public_payload
from ledger.selectors import opened_facts, openings_for_event, receipt_for_event, record
from ledger.services import LedgerPayloadError, append_all, create_checkpoint, record_event
from ledger.verification import verify_database
from ledger.verify_offline import main as offline_main

pytestmark = pytest.mark.django_db

PID = "0123456789abcdef0123456789abcdef"
SCAN = "6f1c7e2a-1b2c-4d5e-8f90-0a1b2c3d4e5f"
V1_SCAN = {"scan_id": SCAN, "patient": PID, "label": "pneumonia", "probability": 0.91, "modality": "ct"}


def _record_v1(event_type: str, payload: dict) -> uuid.UUID:
    """A v1 event as the portal recorded it before format v2 (a row already in the database)."""
    eid = uuid.uuid4()
    PendingEvent.objects.create(event_id=eid, event_type=event_type, payload=canonical.dumps(payload))
    return eid


@pytest.fixture
def mixed(ledger_settings):
    """v1 entries (written before the upgrade), then v2 ones; appended and checkpointed."""
    v1 = [
        _record_v1("scan.registered", V1_SCAN),
        _record_v1("scan.accessed", {"scan_id": SCAN, "actor": PID}),
    ]
    append_all()
    v2 = [
        record_event(
            event_type="scan.registered",
            payload={**V1_SCAN, "width": 128, "height": 128},
            fingerprints={"qwalk": "ab" * 32},
        ),
        record_event(event_type="consent.granted", payload={"consent_id": 7, "patient": PID, "grantee": PID}),
        record_event(event_type="key.rotated", payload={"new_key_id": "0a1b2c3d"}),  # no patient: stays v1
    ]
    append_all()
    create_checkpoint()
    return v1, v2


def _entry(event_id) -> Entry:
    return Entry.objects.get(event_id=event_id)


def test_v1_and_v2_entries_verify_in_one_log(mixed, tmp_path, capsys):
    (v1, v1b), (v2, consent, rotated) = mixed
    assert [chain.payload_version(_entry(e).payload) for e in (v1, v1b, v2, consent, rotated)] == [
        1,
        1,
        2,
        2,
        1,
    ]
    assert b'"v":1}' in chain.leaf_data(**_leaf_args(_entry(v1)))
    assert b'"v":2}' in chain.leaf_data(**_leaf_args(_entry(v2)))
    report = verify_database(check_openings=True)
    assert report["ok"], report
    assert report["entries"] == 5 and report["openings"] == 2
    out = io.StringIO()
    call_command("ledger", "verify", "--openings", stdout=out)
    assert "2 openings match" in out.getvalue()
    path = tmp_path / "export.json"
    call_command("ledger", "export", str(path), stdout=io.StringIO())
    assert offline_main([str(path)]) == 0
    assert "OK: 5 entries" in capsys.readouterr().out


def _leaf_args(e: Entry) -> dict:
    r = record(e)
    return {
        "index": r.index,
        "event_id": r.event_id,
        "event_type": r.event_type,
        "timestamp": r.timestamp,
        "prev_hash": r.prev_hash,
        "key_id": r.key_id,
        "payload": r.payload,
        "fingerprints": r.fingerprints,
    }


def test_v2_entry_holds_commitments_only_and_its_openings_prove_the_facts(mixed):
    _, (v2, _, _) = mixed
    e = _entry(v2)
    public = json.loads(e.payload)
    assert set(public) == {"commitments"} and e.fingerprints is None
    assert len(public["commitments"]) % commitment.PAD_TO == 0
    for secret in ("pneumonia", "0.91", PID, SCAN, "ab" * 32, '"ct"'):
        assert secret not in e.payload
    facts = chain.open_entry(record(e), openings_for_event(v2))
    assert facts == opened_facts(v2)
    assert facts["label"] == "pneumonia" and facts["probability"] == 0.91 and facts["fp:qwalk"] == "ab" * 32
    assert EntryOpening.objects.get(event_id=v2).subject == PID
    # one field alone opens too (selective disclosure)
    label_only = {"label": openings_for_event(v2)["label"]}
    assert chain.open_entry(record(e), label_only) == {"label": "pneumonia"}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda o: o["label"].update(value="normal"),
        lambda o: o["probability"].update(value=0.19),
        lambda o: o["label"].update(salt="0" * 64),
        lambda o: o.update(diagnosis={"salt": "1" * 64, "value": "normal"}),  # a fact never committed
        lambda o: o.update(label=o["modality"]),  # a genuine opening of another field
    ],
    ids=["value", "number", "salt", "extra-field", "swapped-field"],
)
def test_a_wrong_opening_fails_in_the_receipt_and_offline(mixed, tmp_path, capsys, tamper):
    _, (v2, _, _) = mixed
    receipt = receipt_for_event(v2, with_openings=True)
    assert "openings" not in receipt_for_event(v2)  # the public receipt has none
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": receipt["keys"]}))
    good = tmp_path / "receipt.json"
    good.write_text(json.dumps(receipt))
    assert offline_main([str(keys), "--receipt", str(good)]) == 0
    assert 'opened label = "pneumonia"' in capsys.readouterr().out

    openings = json.loads(json.dumps(receipt["openings"]))
    tamper(openings)
    bad = tmp_path / "openings.json"
    bad.write_text(json.dumps(openings))
    public = tmp_path / "public.json"
    public.write_text(json.dumps(receipt_for_event(v2)))
    assert offline_main([str(keys), "--receipt", str(public), "--openings", str(bad), "--json"]) == 1
    assert json.loads(capsys.readouterr().err)["failure"]["check"] == "opening"


def test_openings_for_a_v1_entry_are_refused(mixed, tmp_path, capsys):
    (v1, _), (v2, _, _) = mixed
    receipt = receipt_for_event(v1)
    receipt["openings"] = receipt_for_event(v2, with_openings=True)["openings"]
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    assert offline_main([str(path), "--json"]) == 1
    assert json.loads(capsys.readouterr().err)["failure"]["check"] == "opening"


def test_a_signed_v2_entry_with_a_diagnosis_in_clear_fails_verification(ledger_settings):
    """Even signed by the log's own key, a v2 payload with a field in clear is not a valid entry."""
    commitments, _ = commitment.commit_all({"scan_id": SCAN})
    PendingEvent.objects.create(
        event_id=uuid.uuid4(),
        event_type="scan.registered",
        payload=canonical.dumps({"commitments": commitments, "label": "pneumonia"}),
    )
    append_all()
    report = verify_database()
    assert not report["ok"] and report["failure"]["check"] == "payload" and report["failure"]["index"] == 0


@pytest.mark.parametrize("field", sorted(HEALTH_FIELDS | {"patient", "scan_id", "consent_id", "actor"}))
def test_schema_refuses_a_v2_payload_with_a_field_in_clear(field):
    commitments, _ = commitment.commit_all({"scan_id": SCAN})
    with pytest.raises(PayloadError, match="not allowed in clear"):
        clean_public_payload("scan.registered", {"commitments": commitments, field: "pneumonia"})
    with pytest.raises(PayloadError, match="not allowed in clear"):
        clean_public_payload("scan.registered", {field: "pneumonia"})


def test_schema_refuses_malformed_commitments():
    commitments, _ = commitment.commit_all({"scan_id": SCAN})
    for bad in (
        {"label": commitments[0]},  # names would show which facts exist
        commitments[:5],  # not padded
        [c.upper() for c in commitments],
        list(reversed(commitments)),
        [commitments[0]] * 8,
    ):
        with pytest.raises(PayloadError):
            clean_public_payload("scan.registered", {"commitments": bad})
    assert clean_public_payload("scan.registered", {"commitments": commitments}) == {
        "commitments": commitments
    }


def test_record_event_commits_a_diagnosis_instead_of_publishing_it(ledger_settings):
    eid = record_event(event_type="scan.registered", payload={"scan_id": SCAN, "diagnosis": "pneumonia"})
    p = PendingEvent.objects.get(event_id=eid)
    assert "pneumonia" not in p.payload and "diagnosis" not in p.payload
    assert opened_facts(eid) == {"scan_id": SCAN, "diagnosis": "pneumonia"}
    with pytest.raises(LedgerPayloadError):  # the facts themselves are still checked
        record_event(
            event_type="scan.registered", payload={"scan_id": SCAN, "diagnosis": "Pneumonia, left lobe"}
        )


def test_commitments_hide_equal_values_and_bind_the_field():
    salt = commitment.new_salt()
    assert commitment.commit("patient", PID, salt) == commitment.commit("patient", PID, salt)
    assert commitment.commit("patient", PID, salt) != commitment.commit("patient", PID, commitment.new_salt())
    assert commitment.commit("patient", PID, salt) != commitment.commit("actor", PID, salt)
    a, _ = commitment.commit_all({"patient": PID, "scan_id": SCAN})
    b, _ = commitment.commit_all({"patient": PID, "scan_id": SCAN})
    assert not set(a) & set(b)
    with pytest.raises(commitment.OpeningError):
        commitment.commit("label", "x", "not-hex")


def test_verify_openings_names_an_altered_private_index_row(mixed):
    _, (v2, _, _) = mixed
    row = EntryOpening.objects.get(event_id=v2)
    openings = json.loads(row.openings)
    openings["label"]["value"] = "normal"
    EntryOpening.objects.filter(pk=row.pk).update(openings=canonical.dumps(openings))
    assert verify_database()["ok"]  # the public log itself is intact
    report = verify_database(check_openings=True)
    assert not report["ok"] and report["failure"]["check"] == "opening"
    assert report["failure"]["index"] == _entry(v2).index


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 11, 16])
def test_commit_all_pads_to_a_multiple_with_fresh_values_and_every_opening_checks(n):
    facts = {f"field{i}": f"value{i}" for i in range(n)}
    commitments, openings = commitment.commit_all(facts)
    assert len(commitments) == max(commitment.PAD_TO, -(-n // commitment.PAD_TO) * commitment.PAD_TO)
    assert len(set(commitments)) == len(commitments) and commitments == sorted(commitments)
    salts = [o["salt"] for o in openings.values()]
    assert len(set(salts)) == n and not set(salts) & set(commitments)
    if n:
        assert commitment.check_openings(commitments, openings) == facts
