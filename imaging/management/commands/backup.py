"""python manage.py backup DIR: the database, the blobs (or pinned CIDs) and the key files
other than the master key, with a SHA-256 manifest (imaging/backup.py; README "Backups")."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from imaging import backup


class Command(BaseCommand):
    help = "Write a consistent backup (database, blobs, key files; never the master key) into DIR."

    def add_arguments(self, parser):
        parser.add_argument("directory", help="a new or empty directory")

    def handle(self, *args, **opts):
        try:
            summary = backup.backup(Path(opts["directory"]))
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"backup written to {summary.directory}: {summary.database} database, "
            f"{summary.blobs} blobs, {summary.files} files in the manifest"
        )
