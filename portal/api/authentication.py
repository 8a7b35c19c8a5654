from oauth2_provider.contrib.rest_framework import OAuth2Authentication


class ClientCredentialsAuthentication(OAuth2Authentication):
    """OAuth2 bearer tokens; a client-credentials token acts as its application's service account.

    Tokens are read from the ``Authorization: Bearer`` header only (RFC 6750 2.1): never from
    the query string, where they would land in URLs and logs, nor from a form body. A
    request without that header (the portal's own session calls) skips oauthlib entirely."""

    def authenticate(self, request):
        if request.META.get("HTTP_AUTHORIZATION", "")[:7].lower() != "bearer ":
            return None
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        if user is None and token.application_id and token.application.user_id:
            user = token.application.user
        if user is None or not user.is_active:
            return None
        return user, token
