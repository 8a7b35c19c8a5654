import time

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

# paths a signed-in user may reach before completing the second factor
_OPEN_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/static/", "/healthz")


def second_factor_required(user) -> bool:
    return user.is_authenticated and user.role in settings.QMC_2FA_REQUIRED_ROLES


class SecondFactorRequiredMiddleware:
    """Users with a TOTP device, and every user of a role in QMC_2FA_REQUIRED_ROLES, reach
    nothing but the 2FA pages until they have verified a second factor this session.

    API and DICOMweb requests are refused with 403 rather than redirected.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not user.is_verified() and not request.path.startswith(_OPEN_PREFIXES):
            from django_otp.plugins.otp_totp.models import TOTPDevice

            has_device = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
            if not has_device and not second_factor_required(user):
                return self.get_response(request)
            if request.path.startswith(("/api/", "/dicomweb/")):  # protocol clients: no redirect
                from django.http import JsonResponse

                return JsonResponse(
                    {
                        "title": "Second factor required",
                        "status": 403,
                        "detail": "Complete two-factor verification in the portal first.",
                    },
                    status=403,
                    content_type="application/problem+json",
                )
            return redirect(reverse("2fa-verify" if has_device else "2fa-setup"))
        return self.get_response(request)


SESSION_REFRESHED_KEY = "_qmc_refreshed"


class SessionIdleRefreshMiddleware:
    """The inactivity timeout (``SESSION_COOKIE_AGE`` idle seconds) without a session write on
    every request: a signed-in session is saved, and its expiry pushed back, at most once per
    ``QMC_SESSION_REFRESH_SECONDS`` (default 60). The session therefore ends between
    AGE - REFRESH and AGE seconds after the last request, instead of exactly AGE. Must come
    right after Django's SessionMiddleware (its save happens after this runs)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or session.session_key is None or session.is_empty():
            return response  # no stored session (anonymous, or just logged out)
        now = int(time.time())
        if (
            session.modified
            or now - int(session.get(SESSION_REFRESHED_KEY, 0)) >= settings.QMC_SESSION_REFRESH_SECONDS
        ):
            session[SESSION_REFRESHED_KEY] = now  # saved (with a new expiry) by SessionMiddleware
        return response
