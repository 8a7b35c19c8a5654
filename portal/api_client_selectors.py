"""Reads about third-party API clients: whether an application may get and use tokens now, and
which scopes it may be granted. The token endpoint and every bearer-token request ask here."""

from __future__ import annotations

from django.conf import settings
from oauth2_provider.models import AccessToken, Application

from portal.models import ApiClientPolicy, Role


def permits(policy: ApiClientPolicy | None) -> bool:
    """Whether the application of `policy` may get and use tokens now: an administrator
    registered it (it has a policy), the policy and the owning service account are active, and
    it is still a confidential client-credentials client."""
    if policy is None or not policy.is_active:
        return False
    app = policy.application
    owner = app.user
    return (
        owner is not None
        and owner.is_active
        and owner.role == Role.API_CLIENT
        and app.client_type == Application.CLIENT_CONFIDENTIAL
        and app.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
    )


def usable_policy(app: Application | None) -> ApiClientPolicy | None:
    """The policy of `app` if it permits tokens now, else None; read afresh (one query)."""
    if app is None or app.pk is None:
        return None
    policy = ApiClientPolicy.objects.select_related("application__user").filter(application_id=app.pk).first()
    return policy if permits(policy) else None


def allowed_scopes(app: Application | None) -> set[str]:
    policy = usable_policy(app)
    if policy is None:
        return set()
    return policy.scopes & set(settings.OAUTH2_PROVIDER["SCOPES"])


def access_token_with_policy(checksum: str) -> AccessToken | None:
    """A stored access token with its application, that application's owner and policy, in one
    query (every bearer-token request reads this)."""
    return (
        AccessToken.objects.select_related("user", "application__user", "application__policy")
        .filter(token_checksum=checksum)
        .first()
    )


def policy_of(access: AccessToken) -> ApiClientPolicy | None:
    """The policy of a token's application if it permits tokens now (no query after
    access_token_with_policy)."""
    app = access.application
    policy = getattr(app, "policy", None) if app is not None else None
    return policy if permits(policy) else None
