"""The shared rate counter (portal.throttle) and the API throttles built on it: the limit
holds inside a window and across a window boundary (no double burst), it frees up as the
previous window slides out, and it costs the same whatever the rate. Runs on the run's cache:
Redis in `make test` (one pipelined round trip), the file cache in the smoke run."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.throttling import SimpleRateThrottle

from portal import throttle
from tests.factories import PatientFactory

pytestmark = pytest.mark.smoke


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock(1_000_000 * 60.0)  # the start of a 60 s window
    monkeypatch.setattr(throttle.time, "time", c.time)
    return c


def allow(ident: str, limit: int = 3, window: int = 60) -> bool:
    return throttle.throttle_allow(scope="test", ident=ident, limit=limit, window=window)


def test_the_limit_holds_within_a_window(clock):
    ident = uuid.uuid4().hex
    assert [allow(ident) for _ in range(4)] == [True, True, True, False]
    assert allow(uuid.uuid4().hex)  # another caller has its own count


def test_no_double_burst_across_a_window_boundary(clock):
    ident = uuid.uuid4().hex
    clock.now += 59  # the limit spent at the end of one window...
    assert [allow(ident) for _ in range(3)] == [True, True, True]
    clock.now += 2  # ...is still counted at the start of the next (a fixed window would allow 3 more)
    assert not allow(ident)


def test_the_previous_window_slides_out(clock):
    ident = uuid.uuid4().hex
    assert [allow(ident) for _ in range(3)] == [True, True, True]
    clock.now += 60 + 45  # 3/4 of the next window gone: 3 x 1/4 = 0.75 of the old count remains
    assert [allow(ident) for _ in range(3)] == [True, True, False]
    clock.now += 120  # two windows later: nothing of it remains
    assert [allow(ident) for _ in range(3)] == [True, True, True]


def test_seconds_left_is_a_retry_after(clock):
    clock.now += 15
    assert throttle.seconds_left(60) == 45


@pytest.mark.django_db
def test_the_api_refuses_the_request_over_the_limit_with_retry_after(client, monkeypatch, clock):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "2/min"})
    client.force_login(PatientFactory())
    clock.now += 58  # across a window boundary
    codes = [client.get("/api/v1/scans").status_code for _ in range(3)]
    clock.now += 4
    refused = client.get("/api/v1/scans")
    assert codes == [200, 200, 200] and refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert 0 < int(refused["Retry-After"]) <= 60
