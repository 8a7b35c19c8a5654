from django.apps import AppConfig


class PortalConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "portal"

    def ready(self):
        from portal import api_client_services  # noqa: F401  (the rules every saved OAuth2 application meets)
        from portal.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
