"""python manage.py restore DIR: into an empty installation, after verifying the manifest
(imaging/backup.py; README "Backups")."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from imaging import backup


class Command(BaseCommand):
    help = "Restore a backup made by `backup` into an empty installation (same master key)."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument(
            "--verify-only", action="store_true", help="check the manifest and the files, restore nothing"
        )

    def handle(self, *args, **opts):
        try:
            if opts["verify_only"]:
                manifest = backup.verify(Path(opts["directory"]))
                self.stdout.write(f"backup OK: {len(manifest['files'])} files match the manifest")
                return
            summary = backup.restore(Path(opts["directory"]))
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"restored {summary.database} database and {summary.blobs} blobs from {summary.directory}; "
            "next: python manage.py ledger verify"
        )
