"""`ledger verify` on a seeded ledger and on each tamper of the issue; offline verifier agreement."""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from ledger import merkle, note
from ledger.models import Checkpoint, Entry, Head, PendingEvent, TreeNode
from ledger.selectors import receipt_for_event
from ledger.services import append_all, create_checkpoint, origin, record_event
from ledger.verification import verify_database
from ledger.verify_offline import main as offline_main

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def run_verify() -> tuple[int, str, dict]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("ledger", "verify", stdout=out, stderr=err)
    except SystemExit as exc:
        code = exc.code
    report = verify_database()
    return code, out.getvalue() + err.getvalue(), report


def tamper_sql(sql: str, params=()) -> None:
    """Run a mutating statement with the append-only triggers switched off for this transaction."""
    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute("SET LOCAL session_replication_role = replica")
        else:
            for t in ("ledger_entry", "ledger_treenode", "ledger_checkpoint"):
                c.execute(f"DROP TRIGGER IF EXISTS {t}_no_update")  # rolled back with the test
        c.execute(sql, params)
        if connection.vendor == "postgresql":
            c.execute("SET LOCAL session_replication_role = origin")


def flip_byte(b: bytes, pos: int) -> bytes:
    x = bytearray(b)
    x[pos] ^= 0x01
    return bytes(x)


def assert_fails(index: int, check: str):
    code, text, report = run_verify()
    assert code == 1, text
    assert report["ok"] is False
    assert report["failure"]["index"] == index, report
    assert report["failure"]["check"] == check, report
    assert f"index {index}" in text
    return report


@pytest.mark.smoke
def test_clean_ledger_verifies(seeded):
    code, text, report = run_verify()
    assert code == 0 and report["ok"], text
    assert report["entries"] == 12 and report["checkpoints"] == 3
    out = io.StringIO()
    call_command("ledger", "verify", "--json", stdout=out)
    assert json.loads(out.getvalue())["ok"] is True


def test_triggers_reject_update_and_delete(seeded):
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        Entry.objects.filter(index=1).update(key_id="00000000")
    with pytest.raises(DatabaseError), transaction.atomic():
        Checkpoint.objects.update(note="x")
    with pytest.raises(DatabaseError), transaction.atomic():
        TreeNode.objects.filter(level=0, idx=0).update(hash=b"x" * 32)
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic():
            Entry.objects.filter(index=1).delete()


@pytest.mark.parametrize("field", ["payload", "signature", "leaf_hash", "prev_hash", "timestamp"])
def test_one_byte_changed_in_entry(seeded, field):
    e = Entry.objects.get(index=6)
    value = getattr(e, field)
    if isinstance(value, str):  # one character inside a value, keeping the JSON / timestamp well-formed
        # the first string value of the payload (v1: a field, v2: the first commitment)
        pos = re.search(r'":\[?"', value).end() if field == "payload" else len(value) - 3
        new = value[:pos] + ("1" if value[pos] == "0" else "0") + value[pos + 1 :]
    else:
        new = flip_byte(bytes(value), 5)
    tamper_sql(f"UPDATE ledger_entry SET {field} = %s WHERE {connection.ops.quote_name('index')} = 6", [new])
    check = "signature" if field == "signature" else "leaf_hash"
    assert_fails(6, check)


def test_earliest_failure_is_named_when_signatures_are_checked_in_parallel(seeded):
    """Signatures are checked in worker threads; a bad signature at 2 must still be reported
    before a broken hash at 8 that the main thread reaches first."""
    sig = bytes(Entry.objects.get(index=2).signature)
    tamper_sql(
        f"UPDATE ledger_entry SET signature = %s WHERE {connection.ops.quote_name('index')} = 2",
        [flip_byte(sig, 7)],
    )
    leaf = bytes(Entry.objects.get(index=8).leaf_hash)
    tamper_sql(
        f"UPDATE ledger_entry SET leaf_hash = %s WHERE {connection.ops.quote_name('index')} = 8",
        [flip_byte(leaf, 0)],
    )
    assert_fails(2, "signature")


def test_one_byte_changed_in_checkpoint(seeded):
    cp = Checkpoint.objects.get(tree_size=10)
    body, sigs = cp.note.split("\n\n", 1)
    lines = body.split("\n")
    lines[2] = lines[2][:5] + ("A" if lines[2][5] != "A" else "B") + lines[2][6:]
    tamper_sql(
        "UPDATE ledger_checkpoint SET note = %s WHERE id = %s", ["\n".join(lines) + "\n\n" + sigs, cp.id]
    )
    assert_fails(9, "checkpoint_signature")


def test_one_byte_changed_in_stored_tree_node(seeded):
    node = TreeNode.objects.get(level=1, idx=2)  # completed by entry 5
    tamper_sql(
        "UPDATE ledger_treenode SET hash = %s WHERE id = %s", [flip_byte(bytes(node.hash), 0), node.id]
    )
    assert_fails(5, "tree_node")


def test_deleted_entry(seeded):
    tamper_sql(f"DELETE FROM ledger_entry WHERE {connection.ops.quote_name('index')} = 4")
    assert_fails(4, "missing")


def test_deleted_last_entry(seeded):
    tamper_sql(f"DELETE FROM ledger_entry WHERE {connection.ops.quote_name('index')} = 11")
    assert_fails(11, "missing")


def test_swapped_entries(seeded):
    q = connection.ops.quote_name("index")
    tamper_sql(f"UPDATE ledger_entry SET {q} = 1000 WHERE {q} = 3")
    tamper_sql(f"UPDATE ledger_entry SET {q} = 3 WHERE {q} = 4")
    tamper_sql(f"UPDATE ledger_entry SET {q} = 4 WHERE {q} = 1000")
    assert_fails(3, "leaf_hash")


def test_forged_checkpoint_with_unpublished_key(seeded):
    fpk, fsk = note.generate(note.ALG_FALCON)
    mpk, msk = note.generate(note.ALG_MLDSA)
    forger = [
        note.Signer(origin(), note.ALG_FALCON, fpk, fsk),
        note.Signer(origin(), note.ALG_MLDSA, mpk, msk),
    ]
    root = merkle.root(
        [bytes(h) for h in Entry.objects.order_by("index").values_list("leaf_hash", flat=True)]
    )
    text = note.checkpoint_text(origin(), 12, root)
    Checkpoint.objects.create(tree_size=12, root_hash=root, note=note.sign_note(text, forger))
    report = assert_fails(11, "checkpoint_signature")
    assert "no signature from a known key" in report["failure"]["message"]


def test_rewritten_history_is_inconsistent_with_earlier_checkpoint(seeded):
    """An attacker holding the signing keys rewrites entry 2 onwards, re-signs every entry and
    a new checkpoint; the earlier checkpoint at size 5 no longer matches."""
    q = connection.ops.quote_name("index")
    tamper_sql(f"DELETE FROM ledger_entry WHERE {q} >= 2")
    tamper_sql("DELETE FROM ledger_treenode WHERE leaf >= 2")
    keep = [bytes(h) for h in Entry.objects.order_by("index").values_list("leaf_hash", flat=True)]
    cr = merkle.CompactRange()
    for h in keep:
        cr.append(h)
    Head.objects.filter(pk=1).update(size=2, last_leaf_hash=keep[-1], compact=b"".join(cr.hashes))
    for _ in range(12):
        record_event(event_type="scan.accessed", payload={"scan_id": "6f1c7e2a-1b2c-4d5e-8f90-0a1b2c3d4e5f"})
    append_all()
    create_checkpoint()
    report = assert_fails(4, "checkpoint_root")
    assert "checkpoint #1" in report["failure"]["message"]


def _export(tmp_path) -> Path:
    path = tmp_path / "export.json"
    call_command("ledger", "export", str(path), stdout=io.StringIO())
    return path


def test_offline_verifier_agrees_on_clean_and_tampered(seeded, tmp_path, capsys):
    path = _export(tmp_path)
    assert offline_main([str(path), "--json"]) == 0
    ok = json.loads(capsys.readouterr().out)
    assert ok["entries"] == 12 and ok["checkpoints"] == 3
    tamper_sql(
        f"UPDATE ledger_entry SET payload = %s WHERE {connection.ops.quote_name('index')} = 7",
        ['{"scan_id":"x"}'],
    )
    bad = _export(tmp_path)
    assert offline_main([str(bad), "--json"]) == 1
    off = json.loads(capsys.readouterr().err)["failure"]
    db = verify_database()["failure"]
    assert off["index"] == db["index"] == 7 and off["check"] == db["check"] == "leaf_hash"


def test_offline_receipt_and_corrupted_inputs(seeded, tmp_path, capsys):
    export = _export(tmp_path)
    receipt = receipt_for_event(seeded[2])
    rpath = tmp_path / "receipt.json"
    rpath.write_text(json.dumps(receipt))
    assert offline_main([str(rpath)]) == 0
    assert offline_main([str(export), "--receipt", str(rpath)]) == 0
    capsys.readouterr()

    def bad(mutate, code=1):
        r = json.loads(json.dumps(receipt))
        mutate(r)
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(r))
        assert offline_main([str(export), "--receipt", str(p)]) == code
        return capsys.readouterr().err

    def flip_proof(r):  # a different first character (a proof hash starting with "A" stayed intact)
        h = r["inclusion_proof"][0]
        r["inclusion_proof"][0] = ("B" if h[0] == "A" else "A") + h[1:]

    assert "inclusion" in bad(flip_proof)
    assert "inclusion" in bad(lambda r: r["inclusion_proof"].pop())
    assert "leaf_hash" in bad(
        lambda r: r["entry"]["payload"].update(scan_id="00000000-0000-0000-0000-000000000000")
    )
    assert "checkpoint" in bad(lambda r: r.update(checkpoint=r["checkpoint"].replace("\n12\n", "\n13\n")))
    assert "malformed" in bad(lambda r: r["entry"].pop("signature"))
    assert "malformed" in bad(lambda r: r.update(entry=[1, 2]))
    (tmp_path / "trunc.json").write_text(rpath.read_text()[:100])
    assert offline_main([str(export), "--receipt", str(tmp_path / "trunc.json")]) == 2
    assert offline_main([str(tmp_path / "missing.json")]) == 2
    (tmp_path / "weird.json").write_text(
        '{"format": "qmedchain-ledger-export/v1", "origin": "o", "keys": [{}], "entries": 5}'
    )
    assert offline_main([str(tmp_path / "weird.json")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_offline_verifier_runs_without_django(seeded, tmp_path):
    path = _export(tmp_path)
    code = (
        "import sys; from ledger.verify_offline import main; rc = main([sys.argv[1]]);"
        "assert 'django' not in sys.modules; sys.exit(rc)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert "OK: 12 entries" in r.stdout
    (tmp_path / "garbage.json").write_bytes(b"\xff\xfe garbage")
    r = subprocess.run(
        [sys.executable, "-m", "ledger.verify_offline", str(tmp_path / "garbage.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and "ERROR" in r.stderr


def test_pending_rows_are_not_part_of_the_log(seeded):
    record_event(event_type="scan.accessed", payload={"scan_id": "6f1c7e2a-1b2c-4d5e-8f90-0a1b2c3d4e5f"})
    assert PendingEvent.objects.count() == 1
    assert verify_database()["ok"]
