"""Demo data: one organisation, two clinicians, three patients, an auditor and an admin.

Idempotent: running it again keeps existing users (and their passwords) and prints them.
Clinicians and the admin get a TOTP device with a fixed demo key, so the second factor
works with any authenticator app; `python manage.py demo_totp USER` prints the current code.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from portal.models import Organisation, Role, User
from portal.services import demo_totp_device

DEMO_PASSWORD = "demo-password-2026"

PEOPLE = [
    ("dr.ada", "Ada", "Lovelace", Role.CLINICIAN),
    ("dr.grace", "Grace", "Hopper", Role.CLINICIAN),
    ("alice", "Alice", "Patient", Role.PATIENT),
    ("bob", "Bob", "Patient", Role.PATIENT),
    ("carol", "Carol", "Patient", Role.PATIENT),
    ("audrey", "Audrey", "Auditor", Role.AUDITOR),
    ("admin", "Site", "Admin", Role.ADMIN),
]


class Command(BaseCommand):
    help = "Create demo users (idempotent) and print their credentials."

    @transaction.atomic
    def handle(self, *args, **options):
        org, _ = Organisation.objects.get_or_create(name="St Example General Hospital")
        rows = []
        for username, first, last, role in PEOPLE:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(
                    username=username,
                    first_name=first,
                    last_name=last,
                    role=role,
                    email=f"{username}@example.org",
                    organisation=org if role == Role.CLINICIAN else None,
                    is_staff=role == Role.ADMIN,
                    is_superuser=role == Role.ADMIN,
                )
                user.set_password(DEMO_PASSWORD)
                user.save()
            secret = demo_totp_device(user) if role in (Role.CLINICIAN, Role.ADMIN) else ""
            rows.append((username, role, secret))
        self.stdout.write(f"Demo accounts (password for all: {DEMO_PASSWORD})")
        for username, role, secret in rows:
            extra = f"  TOTP key {secret} (or: python manage.py demo_totp {username})" if secret else ""
            self.stdout.write(f"  {username:<10} {role:<10}{extra}")
