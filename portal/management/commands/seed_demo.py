"""Demo data: one organisation, two clinicians, three patients, an auditor and an admin.

Idempotent: running it again keeps existing users (and their passwords) and prints them.
Clinicians and the admin get a TOTP device with a fixed demo key, so the second factor
works with any authenticator app; `python manage.py demo_totp USER` prints the current code.
"""

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from portal.consent_services import consent_grant, consent_revoke
from portal.models import Consent, Organisation, Role, User
from portal.services import demo_totp_device

DEMO_ORGANISATION = "St Example General Hospital"
DEMO_PASSWORD = "demo-password-2026"  # nosec B105 (README)
DEMO_CLIENT_ID = "northside-demo-client"
DEMO_CLIENT_SECRET = "northside-demo-secret-2026"  # nosec B105 (README)

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

    def add_arguments(self, parser):
        # `make network` names each node's hospital, so a peer shows "Dr X at Hospital 2"
        parser.add_argument("--organisation", default=DEMO_ORGANISATION, help="the clinicians' hospital")

    @transaction.atomic
    def handle(self, *args, **options):
        org, _ = Organisation.objects.get_or_create(name=options.get("organisation") or DEMO_ORGANISATION)
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
        client = self._api_client()
        if not Consent.objects.exists():
            self._consents(org, client)
        self._scans()
        self.stdout.write(f"Demo accounts (password for all: {DEMO_PASSWORD})")
        for username, role, secret in rows:
            extra = f"  TOTP key {secret} (or: python manage.py demo_totp {username})" if secret else ""
            self.stdout.write(f"  {username:<10} {role:<10}{extra}")
        self.stdout.write(f"Demo API client: client_id={DEMO_CLIENT_ID} client_secret={DEMO_CLIENT_SECRET}")

    def _api_client(self) -> User:
        call_command(
            "register_api_client",
            "Northside Hospital PACS",
            username="client-northside",
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
            stdout=StringIO(),
        )
        return User.objects.get(username="client-northside")

    def _consents(self, org, client):
        """One consent in each state, so the demo shows them all."""
        users = {u.username: u for u in User.objects.all()}
        alice, bob, carol = users["alice"], users["bob"], users["carol"]
        now = timezone.now()
        consent_grant(
            patient=alice,
            grantee_user=users["dr.ada"],
            actions=["view", "download", "upload"],
            purposes=["TREAT"],
            end=now + timedelta(days=30),
        )
        consent_grant(
            patient=alice,
            grantee_user=client,
            actions=["view", "download"],
            purposes=["TREAT"],
            end=now + timedelta(days=90),
        )
        expired = consent_grant(
            patient=alice, grantee_org=org, actions=["view"], purposes=["HRESCH"], end=now + timedelta(days=1)
        )
        Consent.objects.filter(pk=expired.pk).update(
            start=now - timedelta(days=40), end=now - timedelta(days=10)
        )
        consent_grant(patient=bob, grantee_org=org, actions=["view", "upload"], purposes=["TREAT"])
        revoked = consent_grant(
            patient=bob, grantee_user=users["dr.grace"], actions=["view"], purposes=["TREAT"]
        )
        consent_revoke(actor=bob, consent=revoked)
        consent_grant(
            patient=carol,
            grantee_user=users["dr.grace"],
            actions=["view"],
            purposes=["TREAT"],
            start=now + timedelta(days=7),
            end=now + timedelta(days=37),
        )

    def _scans(self):
        try:
            call_command("seed_scans", patient="alice", uploader="dr.ada", stdout=self.stdout)
        except Exception as exc:  # noqa: BLE001 - the portal is still usable without demo scans
            self.stderr.write(f"Demo scans not seeded: {exc}")
