"""OpenAPI description of our authentication (imported by PortalConfig.ready)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ClientCredentialsScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.ClientCredentialsAuthentication"
    name = "oauth2"

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": "Client credentials for registered third-party systems. Declare the purpose of use "
            "on each request with the X-Purpose-Of-Use header (TREAT, ETREAT, HRESCH, PATRQT).",
            "flows": {
                "clientCredentials": {"tokenUrl": "/o/token/", "scopes": settings.OAUTH2_PROVIDER["SCOPES"]}
            },
        }

    def get_security_requirement(self, auto_schema):
        view = auto_schema.view
        required = getattr(view, "required_scopes", None)
        if isinstance(required, dict):
            required = required.get(auto_schema.method, required.get("*"))
        return {self.name: list(required or [])}
