import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


def _database() -> str:
    """Where this command looked: the SQLite file, or the server database's name."""
    db = settings.DATABASES["default"]
    return str(db["NAME"]) if "sqlite" in db["ENGINE"] else f"{db.get('HOST') or 'localhost'}/{db['NAME']}"


class Command(BaseCommand):
    help = "Print the current TOTP code of a demo user's device (demo only)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, username, **options):
        try:
            device = TOTPDevice.objects.filter(user__username=username, confirmed=True).first()
        except DatabaseError as exc:
            # no tables yet: `make run` (migrate + seed_demo) has not run against this database,
            # or it ran with another QMC_VAR_DIR / DATABASE_URL than this shell has
            raise CommandError(
                f"the database {_database()} has no demo users yet ({type(exc).__name__}). Start the portal "
                "once with `make run` (it migrates and seeds the demo users), and run this command with the "
                "same QMC_VAR_DIR and DATABASE_URL as `make run` (by default neither is set)."
            ) from None
        if device is None:
            raise CommandError(
                f"{username} has no confirmed TOTP device in {_database()}: the demo users are "
                "dr.ada and dr.grace (`manage.py seed_demo` creates them)"
            )
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
        self.stdout.write(
            f"{code:0{device.digits}d}  (valid for {device.step - int(time.time()) % device.step}s)"
        )
