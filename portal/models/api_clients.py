from django.conf import settings
from django.db import models


class ApiClientPolicy(models.Model):
    """What an administrator allows one OAuth2 application (a third-party API client): the
    scopes it may be granted, and whether it may get and use tokens at all. An application
    without this row gets no token (portal/api_client_selectors.py)."""

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="policy"
    )
    # space-separated, as on DOT's tokens; each one a key of OAUTH2_PROVIDER["SCOPES"]
    allowed_scopes = models.CharField(max_length=500, blank=True)
    is_active = models.BooleanField(
        default=True,
        help_text="Untick to stop this client at once: no new token, and its tokens stop working.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "API client policy"
        verbose_name_plural = "API client policies"

    def __str__(self) -> str:
        return f"policy of {self.application}"

    @property
    def scopes(self) -> set[str]:
        return set(self.allowed_scopes.split())
