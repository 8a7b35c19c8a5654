"""`manage.py backup` / `manage.py restore` (imaging/backup.py): a seeded portal, backed up and
restored into a fresh database and blob directory with the same master key, verifies and
decrypts as before; the master key is never in the backup; a damaged or foreign backup and a
non-empty installation are refused."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import ROOT, _database_url_for_test_db, wait_for

PY = sys.executable


def _run(args, env, *, check=True):
    done = subprocess.run([PY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{args} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
    return done


def _env(database_url: str, blob_dir: Path, var_dir: Path, *, master_key: str | None = None) -> dict:
    env = dict(os.environ)
    env.pop("SECRET_KEY", None)  # a fresh installation generates its own; the backup's replaces it
    env.update(
        DATABASE_URL=database_url,
        QMC_BLOB_DIR=str(blob_dir),
        QMC_VAR_DIR=str(var_dir),
        QMC_MASTER_KEY=master_key or settings.QMC_MASTER_KEY,
        LOG_LEVEL="WARNING",
    )
    return env


def _probe(env) -> dict:
    return json.loads(_run(["-m", "tests.ops.backup_probe"], env).stdout)


def _assert_no_master_key(backup_dir: Path) -> None:
    hex_key = settings.QMC_MASTER_KEY
    raw = bytes.fromhex(hex_key)
    needles = [hex_key.encode(), hex_key.upper().encode(), raw]
    for path in backup_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), f"the master key is in {path}"
    assert not (backup_dir / "keys" / "qmc_master_key.secret").exists()
    dump = backup_dir / "database.dump"
    if dump.exists():  # the custom format is compressed: look into its SQL too
        sql = subprocess.run(["pg_restore", "-f", "-", str(dump)], capture_output=True, check=True).stdout
        assert b"CREATE TABLE" in sql and not any(n in sql for n in needles)


def _tamper_checks(backup_dir: Path, tmp_path: Path, env: dict) -> None:
    """A damaged, padded or foreign backup is refused before anything is written."""
    damaged = tmp_path / "damaged"
    shutil.copytree(backup_dir, damaged)
    blob = next((damaged / "blobs").rglob("bafkrei*"))
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    out = _run(["manage.py", "restore", "--verify-only", str(damaged)], env, check=False)
    assert out.returncode != 0 and "does not match its SHA-256" in out.stderr, out.stderr
    padded = tmp_path / "padded"
    shutil.copytree(backup_dir, padded)
    (padded / "keys" / "extra.secret").write_text("00")
    out = _run(["manage.py", "restore", "--verify-only", str(padded)], env, check=False)
    assert out.returncode != 0 and "not in the manifest" in out.stderr, out.stderr
    foreign = dict(env, QMC_MASTER_KEY=os.urandom(32).hex())
    out = _run(["manage.py", "restore", str(backup_dir)], foreign, check=False)
    assert out.returncode != 0 and "master key is not the one" in out.stderr, out.stderr


def _classical_model_active():
    """The committed classical model as the active one (what the backup holds does not depend
    on the model; this keeps the test off models being retrained in the working tree)."""
    from imaging.model_registry import _read_builtin
    from imaging.models import DiagnosisModel

    if DiagnosisModel.objects.filter(is_active=True).exists():
        return
    card, digest, markdown = _read_builtin("classical")
    DiagnosisModel.objects.create(
        task="pneumonia",
        model_id=str(card["model_id"]),
        version=str(card["version"]),
        kind="classical",
        sha256=digest,
        artifact=card.get("artifact", "classical.npz"),
        card_path="classical.md",
        card_text=markdown,
        threshold=card.get("threshold"),
        is_active=True,
    )


def _seed_through_the_worker(client):
    """Two scans through the real worker, consents (one revoked), views by the clinician."""
    from imaging.models import Scan
    from portal.consent_services import consent_grant, consent_revoke
    from portal.models import AccessEvent
    from tests.factories import ClinicianFactory, PatientFactory, login_verified
    from tests.imaging.conftest import dicom_bytes, drain_worker, png_bytes, upload_file

    _classical_model_active()
    patient, doc, other = PatientFactory(), ClinicianFactory(), ClinicianFactory()
    consent_grant(
        patient=patient, grantee_user=doc, actions=["view", "download", "upload"], purposes=["TREAT"]
    )
    revoked = consent_grant(patient=patient, grantee_user=other, actions=["view"], purposes=["TREAT"])
    login_verified(client, doc)
    ids = []
    for data, name in ((dicom_bytes("CT_small.dcm"), "ct.dcm"), (png_bytes(256, 256), "x.png")):
        resp = client.post("/api/v1/scans", {"patient": str(patient.pk), "file": upload_file(data, name)})
        assert resp.status_code == 202, resp.content
        ids.append(resp.json()["id"])
    for scan_id in ids:
        scan = wait_for(
            lambda scan_id=scan_id: (s := Scan.objects.get(pk=scan_id)).status in ("done", "failed") and s,
            timeout=180,
            what="the scan",
        )
        assert scan.status == "done", scan.failure_reason
        assert client.get(f"/scans/{scan_id}/").status_code == 200
    consent_revoke(actor=patient, consent=revoked)
    drain_worker()
    assert AccessEvent.objects.filter(patient=patient).count() >= 2
    return ids


@pytest.mark.django_db(transaction=True)
def test_backup_restores_into_a_fresh_postgresql_database(celery_worker, client, tmp_path):
    import psycopg
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL path (the SQLite one: test_sqlite_backup_restores)")
    scan_ids = _seed_through_the_worker(client)
    _run(
        ["manage.py", "ledger", "checkpoint", "--force"],
        _env(_database_url_for_test_db(), settings.QMC_BLOB_DIR, settings.VAR_DIR),
    )
    source = _env(_database_url_for_test_db(), settings.QMC_BLOB_DIR, settings.VAR_DIR)
    before = _probe(source)
    assert len(before["scans"]) >= 6 and len(before["decrypted"]) >= 3 * len(set(before["scans"]))
    assert set(scan_ids) <= set(before["scans"]) and before["history"] and len(before["consents"]) >= 2

    backup_dir = tmp_path / "backup"
    out = _run(["manage.py", "backup", str(backup_dir)], source).stdout
    assert "blobs" in out
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["engine"] == "postgresql" and manifest["blobs"] >= 6
    assert "database.dump" in manifest["files"]
    _assert_no_master_key(backup_dir)

    db = settings.DATABASES["default"]
    fresh = f"{db['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    admin = f"host={db.get('HOST') or '127.0.0.1'} port={db.get('PORT') or 5432} user={db.get('USER') or 'postgres'} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{fresh}"')
    try:
        url = _database_url_for_test_db().rsplit("/", 1)[0] + "/" + fresh
        target = _env(url, tmp_path / "blobs2", tmp_path / "var2")
        _tamper_checks(backup_dir, tmp_path, target)
        out = _run(["manage.py", "restore", str(backup_dir)], target).stdout
        assert "restored postgresql database" in out
        assert (tmp_path / "var2" / "secret_key.secret").read_bytes() == (
            Path(settings.VAR_DIR) / "secret_key.secret"
        ).read_bytes()

        again = _run(["manage.py", "restore", str(backup_dir)], target, check=False)
        assert again.returncode != 0 and "database is not empty" in again.stderr

        verified = _run(["manage.py", "ledger", "verify", "--json"], target)
        assert json.loads(verified.stdout)["ok"] is True, verified.stdout[-2000:]
        after = _probe(target)
        assert after == before  # every wrap decrypts to the same bytes; consents, history, ledger
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


def test_sqlite_backup_restores(tmp_path):
    """The embedded default: the SQLite online backup, the blob store and the key files; a demo
    portal seeded (users, consents, uploaded scans), backed up, restored into a new file."""
    master = os.urandom(32).hex()
    source = _env(
        f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path / "blobs", tmp_path / "var", master_key=master
    )
    source["CELERY_BROKER_URL"] = "filesystem://"
    source.pop("CACHE_URL", None)
    _run(["manage.py", "migrate", "--noinput"], source)
    _run(["manage.py", "seed_demo"], source)
    _run(["manage.py", "ledger", "checkpoint", "--force"], source)
    before = _probe(source)
    assert before["decrypted"] and before["consents"] and before["entries"] > 0

    backup_dir = tmp_path / "backup"
    _run(["manage.py", "backup", str(backup_dir)], source)
    assert "database.sqlite3" in json.loads((backup_dir / "manifest.json").read_text())["files"]
    for path in backup_dir.rglob("*"):
        if path.is_file():
            assert master.encode() not in path.read_bytes() and bytes.fromhex(master) not in path.read_bytes()

    target = dict(
        source, DATABASE_URL=f"sqlite:///{tmp_path / 'b.sqlite3'}", QMC_BLOB_DIR=str(tmp_path / "blobs2")
    )
    target["QMC_VAR_DIR"] = str(tmp_path / "var2")
    _run(["manage.py", "restore", str(backup_dir)], target)
    refused = _run(["manage.py", "restore", str(backup_dir)], target, check=False)
    assert refused.returncode != 0 and "not empty" in refused.stderr
    assert json.loads(_run(["manage.py", "ledger", "verify", "--json"], target).stdout)["ok"] is True
    assert _probe(target) == before
