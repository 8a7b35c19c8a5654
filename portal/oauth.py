"""The OAuth 2.0 server as this portal uses it: third-party systems get client-credentials
tokens; no person registers, authorizes or owns an application.

- `PortalOAuth2Validator` (OAUTH2_VALIDATOR_CLASS) gives tokens only to applications an
  administrator registered and that are still active (api_client_selectors.usable_policy),
  and refuses their bearer tokens as soon as that stops being true.
- `PolicyScopes` (SCOPES_BACKEND_CLASS) narrows the scopes to those the policy allows.
- `urlpatterns` mounts only the token, revocation and introspection endpoints under /o/,
  throttled per client id and per address (QMC_TOKEN_RATE_PER_CLIENT / _PER_ADDRESS).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import SettingsScopes
from oauth2_provider.views import IntrospectTokenView, RevokeTokenView, TokenView

from portal.api_client_selectors import access_token_with_policy, allowed_scopes, policy_of, usable_policy
from portal.client_ip import client_ip
from portal.throttle import throttle_allow


class PortalOAuth2Validator(OAuth2Validator):
    def _load_application(self, client_id, request):
        app = super()._load_application(client_id, request)
        if app is not None and usable_policy(app) is None:
            request.client = None  # authenticates as no client at all: invalid_client
            return None
        return app

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        # no scope at all (none asked, none of the defaults allowed) is refused too
        return bool(scopes) and super().validate_scopes(client_id, scopes, client, request, *args, **kwargs)

    def _load_access_token(self, token):
        return access_token_with_policy(hashlib.sha256(token.encode("utf-8")).hexdigest())

    def validate_bearer_token(self, token, scopes, request):
        if not super().validate_bearer_token(token, scopes, request):
            return False
        access = request.access_token
        policy = policy_of(access)
        if (
            policy is None
            or (access.user_id is not None and access.user_id != access.application.user_id)
            or not set(access.scope.split()) <= policy.scopes  # narrowed since it was issued
        ):
            request.access_token = request.client = request.user = None
            request.scopes = []
            request.oauth2_error = {
                "error": "invalid_token",
                "error_description": "The access token is invalid.",
            }
            return False
        return True


class PolicyScopes(SettingsScopes):
    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        return sorted(allowed_scopes(application))

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        available = allowed_scopes(application)
        return [scope for scope in settings.OAUTH2_PROVIDER.get("DEFAULT_SCOPES", []) if scope in available]


# --- throttling ---------------------------------------------------------------------------

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_rate(rate: str) -> tuple[int, int]:
    """'20/min' -> (20, 60), as DRF writes its rates."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period[0]]


def client_id_of(request) -> str:
    """The client id a request to /o/ names (HTTP Basic or the form body); not authenticated."""
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return unquote_plus(decoded.split(":", 1)[0])
    return request.POST.get("client_id", "")


def throttle_wait(request, endpoint: str) -> int:
    """Count this request against its client id and its address; the seconds to wait when
    either is over its rate, else 0."""
    wait = 0
    for kind, ident, rate in (
        ("client", client_id_of(request), settings.QMC_TOKEN_RATE_PER_CLIENT),
        ("address", client_ip(request), settings.QMC_TOKEN_RATE_PER_ADDRESS),
    ):
        if not ident:
            continue
        limit, window = _parse_rate(rate)
        if not throttle_allow(scope=f"oauth-{endpoint}-{kind}", ident=ident, limit=limit, window=window):
            wait = max(wait, window - int(time.time()) % window)
    return wait


class ThrottleMixin:
    endpoint = ""

    # as_view() reads these from the outermost dispatch, this one, as DOT's views declare them
    @method_decorator(csrf_exempt)
    @method_decorator(login_not_required)
    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST":
            wait = throttle_wait(request, self.endpoint)
            if wait:
                return JsonResponse(
                    {
                        "error": "slow_down",
                        "error_description": f"Too many requests; try again in {wait} seconds.",
                    },
                    status=429,
                    headers={"Retry-After": str(wait), "Cache-Control": "no-store"},
                )
        return super().dispatch(request, *args, **kwargs)


class ThrottledTokenView(ThrottleMixin, TokenView):
    endpoint = "token"


class ThrottledRevokeTokenView(ThrottleMixin, RevokeTokenView):
    endpoint = "revoke"


class OwnTokenIntrospectView(ThrottleMixin, IntrospectTokenView):
    """RFC 7662 introspection for a client about its own tokens (any other token, or one its
    client may no longer use, is {"active": false}, RFC 7662 2.2). POST only: a token in a
    query string would land in logs."""

    endpoint = "introspect"
    http_method_names = ["post", "options"]

    def post(self, request, *args, **kwargs):
        value = request.POST.get("token")
        if value is not None:
            checksum = hashlib.sha256(value.encode()).hexdigest()
            access = access_token_with_policy(checksum)
            if (
                access is None
                or policy_of(access) is None
                or access.application.client_id != client_id_of(request)
            ):
                return JsonResponse({"active": False})
        return self.get_token_response(value)

    def unauthenticated_response(self, request, oauthlib_request=None):
        # RFC 7662 2.1: the caller authenticates as a client; say how, in OAuth's error format
        return JsonResponse(
            {"error": "invalid_client", "error_description": "Authenticate as the client (HTTP Basic)."},
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="oauth"', "Cache-Control": "no-store"},
        )


urlpatterns = [
    path("token/", ThrottledTokenView.as_view(), name="token"),
    path("revoke_token/", ThrottledRevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", OwnTokenIntrospectView.as_view(), name="introspect"),
]
