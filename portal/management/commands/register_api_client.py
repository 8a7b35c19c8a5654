"""Register a third-party system: a service account (role api_client) and its OAuth2 application.

Prints the client id and secret once; the secret is stored hashed.
"""

import secrets

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from oauth2_provider.models import Application

from portal.models import Role, User


class Command(BaseCommand):
    help = "Register an OAuth2 client-credentials API client (administrators only)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="e.g. 'Northside Hospital PACS'")
        parser.add_argument("--username", help="service account username (default: derived from the name)")
        parser.add_argument("--client-id", help="fixed client id (default: random)")
        parser.add_argument("--client-secret", help="fixed secret (default: random; demo use only)")

    @transaction.atomic
    def handle(self, name, username=None, client_id=None, client_secret=None, **options):
        username = username or "client-" + "".join(c if c.isalnum() else "-" for c in name.lower())[:40]
        if User.objects.filter(username=username).exclude(role=Role.API_CLIENT).exists():
            raise CommandError(f"{username} exists and is not an API client")
        user, _ = User.objects.get_or_create(
            username=username, defaults={"role": Role.API_CLIENT, "first_name": name[:150]}
        )
        user.set_unusable_password()
        user.save()
        secret = client_secret or secrets.token_urlsafe(32)
        app = Application.objects.filter(user=user).first()
        if app is None:
            app = Application(
                user=user,
                name=name,
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            )
            if client_id:
                app.client_id = client_id
        app.client_secret = secret
        app.save()
        self.stdout.write(f"client_id={app.client_id}\nclient_secret={secret}\nservice_user={user.pk}")
