from django.utils.functional import SimpleLazyObject
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth2.rfc6749.tokens import get_token_from_header

# the validator DOT's resource endpoint would call (OAUTH2_VALIDATOR_CLASS: portal.oauth)
_validator = SimpleLazyObject(lambda: oauth2_settings.OAUTH2_VALIDATOR_CLASS())


class ClientCredentialsAuthentication(OAuth2Authentication):
    """OAuth2 bearer tokens; a client-credentials token acts as its application's service account.

    Tokens are read from the ``Authorization: Bearer`` header only (RFC 6750 2.1): never from
    the query string, where they would land in URLs and logs (a request that puts one there
    is refused, as DOT refuses it, RFC 9700 4.3.2), nor from a form body. A request without
    that header (the portal's own session calls) skips oauthlib entirely.

    The token is checked by DOT's validator (`validate_bearer_token`: the stored token, its
    expiry, its resource audience, its application; portal.oauth adds the client's policy)
    with oauthlib's own header parsing, as DOT's resource endpoint does, without building an
    oauthlib server and a copy of every request header for each call (a tenth of an authorized
    API read's CPU)."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:7].lower() != "bearer ":
            return None
        if "access_token" in request.GET:
            return None
        core = OAuthRequest(
            request.build_absolute_uri(), http_method=request.method, headers={"Authorization": header}
        )
        core.scopes = []
        token = get_token_from_header(core)
        if not token or not _validator.validate_bearer_token(token, [], core):
            request.oauth2_error = getattr(core, "oauth2_error", {})
            return None
        user, access = core.user, core.access_token
        if user is None and access.application_id and access.application.user_id:
            user = access.application.user
        if user is None or not user.is_active:
            return None
        return user, access
