"""Register a third-party system: a service account (role api_client), its OAuth2 application
(confidential, client credentials) and the scopes it may be granted.

Prints the client id and secret once; the secret is stored hashed. Run it again for the same
service account to rotate the secret and replace the scopes.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal.api_client_services import DEFAULT_SCOPES, api_client_register


class Command(BaseCommand):
    help = "Register an OAuth2 client-credentials API client (administrators only)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="e.g. 'Northside Hospital PACS'")
        parser.add_argument("--username", help="service account username (default: derived from the name)")
        parser.add_argument("--client-id", help="fixed client id (default: random)")
        parser.add_argument("--client-secret", help="fixed secret (default: random; demo use only)")
        parser.add_argument(
            "--scopes",
            default=" ".join(DEFAULT_SCOPES),
            help=f"space-separated scopes the client may be granted (default: {' '.join(DEFAULT_SCOPES)})",
        )

    def handle(self, name, username=None, client_id=None, client_secret=None, scopes="", **options):
        try:
            app, secret = api_client_register(
                name=name,
                scopes=scopes.replace(",", " ").split(),
                username=username,
                client_id=client_id,
                client_secret=client_secret,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"client_id={app.client_id}\nclient_secret={secret}\nservice_user={app.user_id}")
