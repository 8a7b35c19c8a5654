from django.apps import AppConfig


class PortalConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "portal"

    def ready(self):
        from portal import api_client_services  # noqa: F401  (the rules every saved OAuth2 application meets)
        from portal.api import schema  # noqa: F401  (registers the OpenAPI auth extension)

        self._connect_token_cache()

    @staticmethod
    def _connect_token_cache() -> None:
        """Bearer-token rows cached per process are dropped when any of their rows changes."""
        from django.db.models.signals import post_delete, post_save
        from oauth2_provider.models import AccessToken, Application

        from portal.api_client_selectors import tokens_changed
        from portal.models import ApiClientPolicy, User

        for model in (AccessToken, Application, ApiClientPolicy, User):
            for signal in (post_save, post_delete):
                signal.connect(
                    tokens_changed, sender=model, dispatch_uid=f"token-cache-{model.__name__}-{signal}"
                )
