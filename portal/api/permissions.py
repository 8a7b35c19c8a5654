"""API permissions: authenticated, and for OAuth2 tokens the scope the view declares.

Views set `required_scopes = {"GET": ["scans:read"], "POST": ["scans:write"]}` (or a list
for every method). A browser session carries no scopes: its access is governed by the
user's role and the policy decision point alone. Patient data is still decided by
portal.policy for everyone; scopes only narrow what a client may ask.
"""

from drf_spectacular.utils import OpenApiParameter
from oauth2_provider.models import AccessToken
from rest_framework.permissions import BasePermission

from portal.models import Purpose


def token_scopes(request) -> set[str] | None:
    token = getattr(request, "auth", None)
    if isinstance(token, AccessToken):
        return set(token.scope.split())
    return None


class AuthenticatedWithScope(BasePermission):
    message = "This token lacks the scope this endpoint needs."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        scopes = token_scopes(request)
        if scopes is None:
            return True
        required = getattr(view, "required_scopes", None)
        if isinstance(required, dict):
            required = required.get(request.method, required.get("*"))
        if required is None:
            return False  # a token may only reach endpoints that say which scope they need
        missing = set(required) - scopes
        if missing:
            self.message = f"This token lacks the scope {', '.join(sorted(missing))}."
            return False
        return True


def purpose_of(request) -> str:
    """Purpose of use declared by the caller: header X-Purpose-Of-Use or ?purpose=, default TREAT.
    An unknown code is a 400 and never reaches the policy or the ledger."""
    from core.api.errors import ApiError  # not at the top: DRF imports this module while loading its views

    purpose = (
        request.headers.get("X-Purpose-Of-Use") or request.query_params.get("purpose") or "TREAT"
    ).upper()
    if purpose not in Purpose.values:
        raise ApiError(
            f"Unknown purpose of use '{purpose[:20]}'; use one of {', '.join(sorted(Purpose.values))}.", 400
        )
    return purpose


PURPOSE_HEADER = OpenApiParameter(
    "X-Purpose-Of-Use",
    str,
    OpenApiParameter.HEADER,
    required=False,
    enum=Purpose.values,
    description="HL7 PurposeOfUse of this request (default TREAT). The patient's consent must cover it.",
)
