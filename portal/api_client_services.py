"""Writes on third-party API clients: an administrator registers one (the management command
and the admin both end here), changes what it may do, or deactivates it.

A client is a confidential OAuth2 application using the client-credentials grant, owned by a
service account of role api_client, with a policy row naming the scopes it may be granted.
`application_problems` states those rules; `_refuse_invalid_application` applies them to every
save of an application, whatever saves it.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver
from oauth2_provider.models import AccessToken, Application, RefreshToken

from portal.models import ApiClientPolicy, Role, User

# what `register_api_client` allows when no --scopes is given: every scope but lab:write
DEFAULT_SCOPES = ("scans:read", "scans:write", "consents:read", "history:read", "ledger:read", "lab:read")


def application_problems(app: Application) -> dict[str, str]:
    """Field -> what is wrong with `app` as a client of this portal; empty when nothing is."""
    problems = {}
    if app.client_type != Application.CLIENT_CONFIDENTIAL:
        problems["client_type"] = "API clients are confidential: they authenticate with a secret."
    if app.authorization_grant_type != Application.GRANT_CLIENT_CREDENTIALS:
        problems["authorization_grant_type"] = (
            "API clients use the client-credentials grant; no person authorizes them."
        )
    owner = User.objects.filter(pk=app.user_id).only("role").first() if app.user_id else None
    if owner is None or owner.role != Role.API_CLIENT:
        problems["user"] = "An API client is owned by a service account of role 'Third-party API client'."
    if app.redirect_uris.strip():
        problems["redirect_uris"] = "API clients have no redirect URIs."
    if not app.hash_client_secret:
        problems["hash_client_secret"] = "The client secret is stored hashed."  # nosec B105 (a message)
    return problems


def scopes_problem(scopes) -> str | None:
    unknown = sorted(set(scopes) - set(settings.OAUTH2_PROVIDER["SCOPES"]))
    if unknown:
        known = ", ".join(settings.OAUTH2_PROVIDER["SCOPES"])
        return f"Unknown scope {', '.join(unknown)}; the scopes are {known}."
    return None


@receiver(pre_save, sender=Application, dispatch_uid="portal-api-client-rules")
def _refuse_invalid_application(sender, instance: Application, raw=False, **kwargs):
    if raw:  # loaddata
        return
    problems = application_problems(instance)
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def api_client_register(
    *,
    name: str,
    scopes,
    username: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> tuple[Application, str]:
    """Create (or, for an existing service account, update) a client; returns it and its secret,
    which is stored hashed and shown only now."""
    scopes = sorted(set(scopes))
    problem = scopes_problem(scopes)
    if problem:
        raise ValidationError({"scopes": problem})
    username = username or "client-" + "".join(c if c.isalnum() else "-" for c in name.lower())[:40]
    if User.objects.filter(username=username).exclude(role=Role.API_CLIENT).exists():
        raise ValidationError({"username": f"{username} exists and is not an API client."})
    user, _ = User.objects.get_or_create(
        username=username, defaults={"role": Role.API_CLIENT, "first_name": name[:150]}
    )
    user.set_unusable_password()
    user.save()
    secret = client_secret or secrets.token_urlsafe(32)
    app = Application.objects.filter(user=user).first()
    if app is None:
        app = Application(
            user=user,
            name=name,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        )
        if client_id:
            app.client_id = client_id
    app.client_secret = secret
    app.save()
    ApiClientPolicy.objects.update_or_create(
        application=app, defaults={"allowed_scopes": " ".join(scopes), "is_active": True}
    )
    return app, secret


@transaction.atomic
def api_client_deactivate(*, application: Application) -> None:
    """Stop a client at once: no new token (the policy), and the tokens it holds are deleted too
    (the policy alone already refuses them)."""
    ApiClientPolicy.objects.update_or_create(application=application, defaults={"is_active": False})
    RefreshToken.objects.filter(application=application).delete()
    AccessToken.objects.filter(application=application).delete()
