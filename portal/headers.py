"""Response headers every page and API answer carries (the CSP is django-csp's, settings).

- ``Cache-Control: no-store, private`` on every API response and on every response to a
  signed-in user (session cookie or bearer token): these carry patient data, which no browser
  cache, proxy or back/forward cache may keep. A view that set its own Cache-Control keeps it
  (the public ledger's checkpoint: no-cache); tests/security/test_headers.py checks that every
  patient-data response says no-store. Static files are served by WhiteNoise before this
  middleware runs, and keep their caching.
- ``Permissions-Policy`` denying the browser features the portal never uses (only features
  Chromium knows: it logs an error for each unknown one).
"""

from __future__ import annotations

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "interest-cohort",
        "local-fonts",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)
NO_STORE = "no-store, private"


def _carries_private_data(request) -> bool:
    if request.path.startswith("/api/") or "HTTP_AUTHORIZATION" in request.META:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if _carries_private_data(request) and not response.has_header("Cache-Control"):
            response["Cache-Control"] = NO_STORE
        return response
