"""python manage.py rotate_master_key [--new]: re-seal every private key under the current
master key, without downtime (imaging/key_rotation.py; README "Master-key rotation")."""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from imaging import key_rotation


def _write_secret(path: Path, value: str) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    tmp.replace(path)


class Command(BaseCommand):
    help = "Re-seal every secret under the current master key; run again to finish a rotation."

    def add_arguments(self, parser):
        parser.add_argument(
            "--new",
            action="store_true",
            help="embedded default (key files under var/): generate a new master key first, keeping "
            "the old one as the previous key and as the root of the pseudonyms",
        )

    def handle(self, *args, **opts):
        if opts["new"]:
            self._new_key_files()
        report = key_rotation.rotate()
        left = key_rotation.remaining_under_other_keys()
        self.stdout.write(
            f"re-sealed {report.resealed}, already under the current key {report.current}, "
            f"unreadable {report.unreadable}, left under another key {left}"
        )
        if report.unreadable:
            raise CommandError(
                f"{report.unreadable} sealed secrets open with neither the current nor the previous "
                "master key: set QMC_MASTER_KEY_PREVIOUS to the key that sealed them"
            )
        if left:
            self.stdout.write("run the command again once every process has restarted with the new key")
            return
        previous = Path(settings.VAR_DIR) / "qmc_master_key_previous.secret"
        if previous.exists() and not os.environ.get("QMC_MASTER_KEY_PREVIOUS"):
            previous.unlink()
            self.stdout.write(f"rotation complete: {previous} deleted")
        elif settings.QMC_MASTER_KEY_PREVIOUS:
            self.stdout.write("rotation complete: remove QMC_MASTER_KEY_PREVIOUS from the environment")
        else:
            self.stdout.write("rotation complete")

    def _new_key_files(self) -> None:
        if os.environ.get("QMC_MASTER_KEY"):
            raise CommandError(
                "--new is for the embedded default (var/qmc_master_key.secret); with QMC_MASTER_KEY "
                "in the environment set QMC_MASTER_KEY=<new>, QMC_MASTER_KEY_PREVIOUS=<old> and "
                "QMC_KEY_DERIVATION_ROOT=<original> and restart the processes"
            )
        if settings.QMC_MASTER_KEY_PREVIOUS:
            raise CommandError("a rotation is already under way: run the command without --new to finish it")
        var = Path(settings.VAR_DIR)
        old = settings.QMC_MASTER_KEY
        root = var / "qmc_key_derivation_root.secret"
        if not settings.QMC_KEY_DERIVATION_ROOT:
            _write_secret(root, old)  # pseudonyms stay those of the original key
            settings.QMC_KEY_DERIVATION_ROOT = old
        new = secrets.token_hex(32)
        _write_secret(var / "qmc_master_key_previous.secret", old)
        _write_secret(var / "qmc_master_key.secret", new)
        settings.QMC_MASTER_KEY, settings.QMC_MASTER_KEY_PREVIOUS = new, old
        self.stdout.write(
            "new master key in var/qmc_master_key.secret; restart the web server and the worker after "
            "this run (until then they seal with the old key: run the command again afterwards)"
        )
