"""Batch signing: one Falcon-512 signature per append batch, over the RFC 9162 root of the
batch's leaves; every entry covered (its inclusion proof against that root); entries of the
older per-entry form still verify, in the same log."""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from ledger import chain, merkle, note, services
from ledger.models import Batch, Entry
from ledger.selectors import receipt_for_event
from ledger.services import append_pending, record_event
from ledger.verification import verify_database
from ledger.verify_offline import main as offline_main
from tests.ledger.test_verify import flip_byte

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SCAN = "6f1c7e2a-1b2c-4d5e-8f90-0a1b2c3d4e5f"


def _sql(sql: str, params=()) -> None:
    """A mutating statement with the append-only triggers off (this transaction only)."""
    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute("SET LOCAL session_replication_role = replica")
        else:
            for t in ("ledger_entry", "ledger_treenode", "ledger_checkpoint", "ledger_batch"):
                c.execute(f"DROP TRIGGER IF EXISTS {t}_no_update")
        c.execute(sql, params)
        if connection.vendor == "postgresql":
            c.execute("SET LOCAL session_replication_role = origin")


def _flip_payload(value: str) -> str:
    """The last character of the payload's first string value (the JSON stays well-formed, and
    a sorted list of commitments stays sorted: a schema check must not catch it first)."""
    start = re.search(r'":\[?"', value).end()
    pos = value.index('"', start) - 1
    return value[:pos] + ("1" if value[pos] == "0" else "0") + value[pos + 1 :]


def _idx() -> str:
    return connection.ops.quote_name("index")


def _failure_after(sql: str, params=()) -> dict | None:
    """Verification failure after one tamper, rolled back afterwards."""
    with transaction.atomic():
        _sql(sql, params)
        failure = verify_database()["failure"]
        transaction.set_rollback(True)
    return failure


def test_one_signature_per_batch_covers_every_entry(ledger_settings, monkeypatch):
    calls = []
    real = note.falcon_512.sign
    monkeypatch.setattr(note.falcon_512, "sign", lambda sk, m: calls.append(m) or real(sk, m))
    ids = [record_event(event_type="scan.accessed", payload={"scan_id": SCAN}) for _ in range(40)]
    assert append_pending() == 40
    entry_calls = [m for m in calls if m.startswith(chain.BATCH_CONTEXT) or m.startswith(chain.ENTRY_CONTEXT)]
    assert len(entry_calls) == 1 and entry_calls[0].startswith(chain.BATCH_CONTEXT)
    (b,) = Batch.objects.all()
    entries = list(Entry.objects.order_by("index"))
    assert [e.event_id for e in entries] == ids
    assert (b.first, b.size) == (0, 40) and all(e.batch == 0 and bytes(e.signature) == b"" for e in entries)
    leaves = [bytes(e.leaf_hash) for e in entries]
    assert bytes(b.root_hash) == merkle.root(leaves)
    fkey = services.active_key(note.ALG_FALCON)
    assert note.falcon_512.verify(
        bytes(fkey.public_key), chain.batch_message(0, 40, merkle.root(leaves)), bytes(b.signature)
    )
    # the signature binds the position and size too: the same root elsewhere does not verify
    assert not note._safe_verify(
        note.falcon_512,
        bytes(fkey.public_key),
        chain.batch_message(1, 40, bytes(b.root_hash)),
        bytes(b.signature),
    )
    report = verify_database()
    assert report["ok"] and report["entries"] == 40 and report["batches"] == 1, report


def test_mixed_log_of_both_forms_verifies(seeded_batches):
    forms = dict(Entry.objects.values_list("index", "batch"))
    assert [forms[i] for i in range(13)] == [None] * 4 + [4] * 5 + [9] * 4
    assert list(Batch.objects.values_list("first", "size")) == [(4, 5), (9, 4)]
    out = io.StringIO()
    call_command("ledger", "verify", stdout=out)
    report = verify_database()
    assert report["ok"] and report["entries"] == 13 and report["batches"] == 2, report
    assert report["checkpoints"] == 3


@pytest.mark.parametrize("field", ["payload", "timestamp", "leaf_hash", "prev_hash"])
def test_tampering_any_entry_fails(seeded_batches, field):
    """Each of the 13 entries (both forms), one byte changed: verification fails at it."""
    for index in range(13):
        e = Entry.objects.get(index=index)
        value = getattr(e, field)
        if isinstance(value, str):
            if field == "payload":
                new = _flip_payload(value)
            else:
                pos = len(value) - 3
                new = value[:pos] + ("1" if value[pos] == "0" else "0") + value[pos + 1 :]
        else:
            new = flip_byte(bytes(value), 5)
        failure = _failure_after(f"UPDATE ledger_entry SET {field} = %s WHERE {_idx()} = %s", [new, index])
        assert failure is not None and failure["index"] == index, (index, failure)
        assert failure["check"] == "leaf_hash", (index, failure)


def test_a_consistent_rewrite_of_the_last_entry_of_a_batch_breaks_the_batch_root(seeded_batches):
    """An attacker without the keys rewrites entry 12 and its stored leaf hash (nothing chains
    after it): the batch's signed Merkle root no longer matches."""
    e = Entry.objects.get(index=12)
    payload = _flip_payload(e.payload)
    rec = chain.EntryRecord(
        index=12,
        event_id=str(e.event_id),
        event_type=e.event_type,
        timestamp=e.timestamp,
        prev_hash=bytes(e.prev_hash),
        payload=payload,
        fingerprints=e.fingerprints,
        leaf_hash=b"",
        key_id=e.key_id,
        signature=b"",
        batch=e.batch,
    )
    leaf = chain.record_leaf_hash(rec)
    with transaction.atomic():
        _sql(f"UPDATE ledger_entry SET payload = %s, leaf_hash = %s WHERE {_idx()} = 12", [payload, leaf])
        _sql("DELETE FROM ledger_treenode WHERE leaf = 12")  # (the stored nodes are checked too)
        failure = verify_database(check_nodes=False)["failure"]
        transaction.set_rollback(True)
    assert failure["check"] in ("batch_root", "checkpoint_root"), failure
    assert failure["index"] == 12


def test_tampered_batches_fail(seeded_batches):
    b = Batch.objects.get(first=4)
    f = _failure_after(
        "UPDATE ledger_batch SET signature = %s WHERE first = 4", [flip_byte(bytes(b.signature), 9)]
    )
    assert (f["index"], f["check"]) == (4, "signature") and "batch 4..8" in f["message"], f
    f = _failure_after("UPDATE ledger_batch SET root_hash = %s WHERE first = 9", [bytes(32)])
    assert (f["index"], f["check"]) == (12, "batch_root"), f
    f = _failure_after("DELETE FROM ledger_batch WHERE first = 9")
    assert (f["index"], f["check"]) == (9, "batch"), f
    f = _failure_after("UPDATE ledger_batch SET size = 4 WHERE first = 4")  # entry 8 left out
    assert f is not None and f["index"] in (7, 8) and f["check"] in ("batch_root", "batch"), f
    f = _failure_after(f"UPDATE ledger_entry SET batch = NULL WHERE {_idx()} = 6")  # claims its own signature
    assert f is not None and f["index"] == 6, f
    f = _failure_after(f"UPDATE ledger_entry SET signature = %s WHERE {_idx()} = 2", [b"\x00" * 600])
    assert (f["index"], f["check"]) == (2, "signature"), f  # an old, per-entry signed entry


def test_batch_table_is_append_only(seeded_batches):
    from django.db import DatabaseError

    with pytest.raises(DatabaseError), transaction.atomic():
        Batch.objects.filter(first=4).update(size=3)
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic():
            Batch.objects.filter(first=4).delete()


def _export(tmp_path) -> Path:
    path = tmp_path / "export.json"
    call_command("ledger", "export", str(path), stdout=io.StringIO())
    return path


def test_export_of_a_mixed_log_verifies_offline_and_a_missing_batch_fails(seeded_batches, tmp_path, capsys):
    path = _export(tmp_path)
    assert offline_main([str(path), "--json"]) == 0
    ok = json.loads(capsys.readouterr().out)
    assert (ok["entries"], ok["checkpoints"], ok["batches"]) == (13, 3, 2)
    doc = json.loads(path.read_text())
    doc["batches"].pop()
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    assert offline_main([str(tmp_path / "bad.json"), "--json"]) == 1
    failure = json.loads(capsys.readouterr().err)["failure"]
    assert (failure["index"], failure["check"]) == (9, "batch")


def test_receipts_of_both_forms_verify_offline_without_django(seeded_batches, tmp_path):
    export = _export(tmp_path)
    for index in (1, 6, 12):  # per entry; batch form in the middle and at the end of a batch
        receipt = receipt_for_event(seeded_batches[index])
        assert (receipt.get("batch") is None) == (index < 4)
        path = tmp_path / f"receipt-{index}.json"
        path.write_text(json.dumps(receipt))
        code = (
            "import sys; from ledger.verify_offline import main;"
            "rc = main([sys.argv[1], '--receipt', sys.argv[2], '--json']);"
            "assert 'django' not in sys.modules; sys.exit(rc)"
        )
        r = subprocess.run(
            [sys.executable, "-c", code, str(export), str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["index"] == index


def test_tampered_batch_receipts_fail(seeded_batches, tmp_path, capsys):
    receipt = receipt_for_event(seeded_batches[6])
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": receipt["keys"]}))
    p = tmp_path / "r.json"
    p.write_text(json.dumps(receipt))
    assert offline_main([str(keys), "--receipt", str(p)]) == 0
    capsys.readouterr()

    def check(mutate) -> dict:
        r = json.loads(json.dumps(receipt))
        mutate(r)
        p.write_text(json.dumps(r))
        assert offline_main([str(keys), "--receipt", str(p), "--json"]) == 1
        return json.loads(capsys.readouterr().err)["failure"]

    def flip_proof(r):
        h = r["batch"]["inclusion_proof"][0]
        r["batch"]["inclusion_proof"][0] = ("B" if h[0] == "A" else "A") + h[1:]

    def flip_sig(r):
        s = r["batch"]["signature"]
        r["batch"]["signature"] = s[:20] + ("B" if s[20] == "A" else "A") + s[21:]

    assert check(flip_proof)["check"] == "batch_proof"
    assert check(lambda r: r["batch"]["inclusion_proof"].pop())["check"] == "batch_proof"
    assert check(flip_sig)["check"] == "signature"
    assert check(lambda r: r["batch"].update(root_hash="00" * 32))["check"] in ("batch_proof", "signature")
    assert check(lambda r: r.pop("batch"))["check"] == "malformed"
    assert check(lambda r: r["batch"].update(first=9))["check"] == "batch"
    # an entry claiming the old per-entry form with no signature of its own
    assert check(lambda r: r["entry"].pop("batch"))["check"] == "signature"
