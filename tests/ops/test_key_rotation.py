"""Master-key rotation (core/keyvault.py, crypto/sealing.py, imaging/key_rotation.py,
`manage.py rotate_master_key`): scans decrypt before, during (rows re-sealed one at a time) and
after; pseudonyms do not change; afterwards the old key opens nothing."""

import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from core import keyvault
from crypto.sealing import SealError, key_id, sealed_key_id, unseal_with
from imaging import key_rotation
from tests.factories import ClinicianFactory, PatientFactory, make_scan

pytestmark = pytest.mark.django_db


def _every_sealed_blob():
    return [
        (column, row, blob) for column in key_rotation.COLUMNS for row, blob in key_rotation._rows(column)
    ]


def _read_all(objects) -> list[bytes]:
    from portal import keys

    out = []
    for obj, ciphertext, readers in objects:
        from crypto import envelope

        for reader in readers:
            data_key = keys.unwrap_for(object_id=obj.id, reader=reader)
            out.append(envelope.decrypt(ciphertext, data_key, object_id=str(obj.id), kind="original"))
    return out


def test_rotation_while_reading_and_the_old_key_opens_nothing_after(settings):
    from ledger.services import ensure_keys

    old = settings.QMC_MASTER_KEY
    settings.QMC_MASTER_KEY_PREVIOUS = ""
    settings.QMC_KEY_DERIVATION_ROOT = ""
    ensure_keys()  # the ledger's signing keys, sealed
    patient, doc = PatientFactory(), ClinicianFactory()
    from portal.consent_services import consent_grant

    consent_grant(patient=patient, grantee_user=doc, actions=["view"], purposes=["TREAT"])
    objects = []
    for i in range(3):
        _, obj, ciphertext = make_scan(patient, uploader=doc, content=f"image {i}".encode())
        objects.append((obj, ciphertext, [None, patient, doc]))
    expected = _read_all(objects)
    pseudonym_before = keyvault.pseudonym("patient", patient.pk)
    sealed = _every_sealed_blob()
    assert len(sealed) >= 6  # system, patient, clinician key pairs + the ledger's keys
    assert all(sealed_key_id(blob) == key_id(bytes.fromhex(old)) for *_, blob in sealed)

    # the processes restart with the new key current and the old one previous
    new = os.urandom(32).hex()
    settings.QMC_MASTER_KEY, settings.QMC_MASTER_KEY_PREVIOUS, settings.QMC_KEY_DERIVATION_ROOT = (
        new,
        old,
        old,
    )
    assert _read_all(objects) == expected  # nothing re-sealed yet: the previous key opens it all
    steps = 0
    while key_rotation.remaining_under_other_keys():
        report = key_rotation.rotate(limit=1)  # one row at a time, reading in between
        assert report.resealed == 1 and report.unreadable == 0
        assert _read_all(objects) == expected
        steps += 1
    assert steps == len(sealed)
    assert keyvault.pseudonym("patient", patient.pk) == pseudonym_before
    from ledger.services import record_event

    record_event(event_type="key.rotated", payload={"new_key_id": "0a0b0c0d"}, enqueue=False)
    from ledger.services import append_all

    assert append_all() >= 1  # the ledger still signs with its re-sealed keys

    # a second run finishes it: nothing left, nothing changed
    call_command("rotate_master_key", stdout=open(os.devnull, "w"))
    settings.QMC_MASTER_KEY_PREVIOUS = ""
    assert _read_all(objects) == expected
    for column, row, blob in _every_sealed_blob():
        assert sealed_key_id(blob) == key_id(bytes.fromhex(new))
        with pytest.raises(SealError):
            unseal_with(bytes.fromhex(old), blob, context=column.context(row))
    # a process still holding only the old key can read none of it
    settings.QMC_MASTER_KEY = old
    settings.QMC_KEY_DERIVATION_ROOT = ""
    from portal.keys import KeyAccessError

    with pytest.raises((SealError, KeyAccessError)):
        _read_all(objects)


def test_a_blob_of_the_first_format_still_opens_and_is_re_sealed(settings):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from crypto.sealing import VERSION, derive

    settings.QMC_MASTER_KEY_PREVIOUS = ""
    patient = PatientFactory()
    from portal import keys
    from portal.models import UserKeyPair

    pair = keys.keypair_for(patient)
    private = keyvault.unseal(bytes(pair.sealed_private_key), context=f"portal.keypair:{pair.fingerprint}")
    nonce = os.urandom(12)
    legacy = (
        VERSION
        + nonce
        + AESGCM(derive(keyvault.sealing_key(), b"keyvault")).encrypt(
            nonce, private, f"portal.keypair:{pair.fingerprint}".encode()
        )
    )
    UserKeyPair.objects.filter(pk=pair.pk).update(sealed_private_key=legacy)
    assert keyvault.unseal(legacy, context=f"portal.keypair:{pair.fingerprint}") == private
    report = key_rotation.rotate()
    assert report.resealed >= 1
    pair.refresh_from_db()
    assert sealed_key_id(bytes(pair.sealed_private_key)) == key_id(keyvault.sealing_key())


def test_embedded_rotation_with_new_key_files(tmp_path):
    """`rotate_master_key --new` on the embedded default (SQLite, key files under var/): the
    master key file changes, the previous one is removed once nothing needs it, the backup
    never carries either."""
    env = dict(os.environ)
    for name in (
        "QMC_MASTER_KEY",
        "QMC_MASTER_KEY_PREVIOUS",
        "QMC_KEY_DERIVATION_ROOT",
        "CACHE_URL",
        "SECRET_KEY",
    ):
        env.pop(name, None)
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        QMC_VAR_DIR=str(tmp_path / "var"),
        CELERY_BROKER_URL="filesystem://",
        LOG_LEVEL="WARNING",
    )

    def run(*args):
        done = subprocess.run(
            [sys.executable, "manage.py", *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    run("migrate", "--noinput")
    run("ledger", "seed-demo", "--count", "3")
    var = tmp_path / "var"
    old = (var / "qmc_master_key.secret").read_text()
    out = run("rotate-master-key", "--new")  # the runbook's spelling
    assert "left under another key 0" in out and "rotation complete" in out, out
    assert (var / "qmc_master_key.secret").read_text() != old
    assert not (var / "qmc_master_key_previous.secret").exists()
    assert (var / "qmc_key_derivation_root.secret").read_text() == old
    assert (var / "qmc_key_derivation_root.secret").stat().st_mode & 0o777 == 0o600
    assert "OK" in run("ledger", "verify")
    run("ledger", "seed-demo", "--count", "2")  # signs with the re-sealed keys
    run("backup", str(tmp_path / "backup"))
    names = {p.name for p in (tmp_path / "backup").rglob("*")}
    assert not names & {
        "qmc_master_key.secret",
        "qmc_key_derivation_root.secret",
        "qmc_master_key_previous.secret",
    }
