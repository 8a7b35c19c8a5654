"""The API's request throttles: DRF's user and anonymous rates (DEFAULT_THROTTLE_RATES), counted
with `portal.throttle`'s sliding-window counter (one Redis round trip) instead of DRF's default
history list, which is read, trimmed and written back whole on every request (its size grows
with the rate: thousands of timestamps at a hospital integration's rates)."""

from __future__ import annotations

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from portal.throttle import seconds_left, throttle_allow


class _Counting:
    scope: str
    rate: str | None
    num_requests: int
    duration: int

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if ident is None:
            return True
        return throttle_allow(
            scope=f"api-{self.scope}", ident=ident, limit=self.num_requests, window=self.duration
        )

    def wait(self) -> float:
        return float(seconds_left(self.duration))


class CountingAnonRateThrottle(_Counting, AnonRateThrottle):
    pass


class CountingUserRateThrottle(_Counting, UserRateThrottle):
    pass
