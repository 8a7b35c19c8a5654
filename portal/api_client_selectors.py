"""Reads about third-party API clients: whether an application may get and use tokens now, and
which scopes it may be granted. The token endpoint and every bearer-token request ask here."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.cache import cache
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


# Every bearer-token request reads its token, application, owner and policy: one query with
# four joins, whose compilation alone cost about a third of an authorized read. The row is
# kept per process for up to API_TOKEN_CACHE_SECONDS. When a token, application, policy or
# user is saved or deleted, `tokens_changed` drops the rows of its own process at once and
# bumps the generation counter in the shared cache, which every other process reads at most
# GENERATION_POLL_SECONDS before it trusts a kept row: a revocation reaches them within 50 ms
# (one cache GET per 50 ms per process, instead of one per request). Expiry is still checked
# on every request (AccessToken.is_valid), and the policy's rules by policy_of.
TOKEN_GENERATION_KEY = "api-client:token-generation"  # nosec B105 - a cache key
GENERATION_POLL_SECONDS = 0.05
_token_rows: dict[str, tuple[float, object, AccessToken | None]] = {}  # checksum -> (until, generation, row)
_token_lock = threading.Lock()
_polled: list = [float("-inf"), None]  # [when (monotonic), the generation read then]


def _token_cache_seconds() -> float:
    return float(getattr(settings, "API_TOKEN_CACHE_SECONDS", 5.0))


def tokens_changed(**_kwargs) -> None:
    """A token, application, policy or user changed: every process reads tokens afresh."""
    _token_rows.clear()
    _polled[:] = [float("-inf"), None]
    try:
        cache.set(TOKEN_GENERATION_KEY, time.time_ns(), None)
    except Exception:  # noqa: BLE001  # nosec B110 - no shared cache: only this process's copies were dropped
        pass


def _generation() -> object:
    """The shared generation, read at most GENERATION_POLL_SECONDS ago; None (trust no kept row)
    when the shared cache could not be read."""
    now = time.monotonic()
    when, generation = _polled
    if now - when < GENERATION_POLL_SECONDS:
        return generation
    try:
        generation = cache.get(TOKEN_GENERATION_KEY, 0)
    except Exception:  # noqa: BLE001 - the shared cache is down: never trust a cached row then
        generation = None
    _polled[:] = [now, generation]
    return generation


def _load_token(checksum: str) -> AccessToken | None:
    return (
        AccessToken.objects.select_related("user", "application__user", "application__policy")
        .filter(token_checksum=checksum)
        .first()
    )


def access_token_with_policy(checksum: str) -> AccessToken | None:
    """A stored access token with its application, that application's owner and policy, in one
    query (every bearer-token request reads this), or none while this process holds a copy
    of the same generation (see above)."""
    ttl = _token_cache_seconds()
    if ttl <= 0:
        return _load_token(checksum)
    generation = _generation()
    now = time.monotonic()
    hit = _token_rows.get(checksum)
    if generation is not None and hit is not None and hit[0] > now and hit[1] == generation:
        return hit[2]
    row = _load_token(checksum)
    if generation is not None and row is not None:
        with _token_lock:
            if len(_token_rows) > 10000:  # bounded: many clients, or a token-guessing caller
                _token_rows.clear()
            _token_rows[checksum] = (now + ttl, generation, row)
    return row


def policy_of(access: AccessToken) -> ApiClientPolicy | None:
    """The policy of a token's application if it permits tokens now (no query after
    access_token_with_policy)."""
    app = access.application
    policy = getattr(app, "policy", None) if app is not None else None
    return policy if permits(policy) else None
