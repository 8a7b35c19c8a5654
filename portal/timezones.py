"""Each person's time zone: pages show times in it, not in UTC.

`User.time_zone` holds an IANA name; empty means the site's default (settings.TIME_ZONE).
The middleware activates it for the request, so template filters (`date`, `time`) and
`timezone.localtime` render in it; services that word times themselves call `zone_of`.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from django.conf import settings
from django.utils import timezone


@lru_cache(maxsize=1)
def available() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(available())]


def zone_of(user) -> zoneinfo.ZoneInfo:
    """The user's zone, else the site's default (also for an unknown or stale name)."""
    name = getattr(user, "time_zone", "") or ""
    if name in available():
        return zoneinfo.ZoneInfo(name)
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


class UserTimeZoneMiddleware:
    """After authentication: render this request's times in the signed-in user's zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            timezone.activate(zone_of(user))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
