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


class Processes:
    """Web processes sharing one count: each has its own reserved chunks."""

    def __init__(self, monkeypatch, n: int) -> None:
        self.own = [{} for _ in range(n)]
        self.monkeypatch = monkeypatch

    def allow(self, i: int, ident: str, limit: int) -> bool:
        self.monkeypatch.setattr(throttle, "_reserved", self.own[i])
        return allow(ident, limit=limit)


def test_chunked_counting_never_passes_the_limit_across_processes(clock, monkeypatch):
    limit = throttle.CHUNK_FROM * 2
    procs = Processes(monkeypatch, 3)
    ident = uuid.uuid4().hex
    granted, refused = 0, set()
    turn = 0
    while len(refused) < 3:
        i = turn % 3
        turn += 1
        if i in refused:
            continue
        if procs.allow(i, ident, limit):
            granted += 1
        else:
            refused.add(i)
    # every reservation was spent before its process asked again: exactly the limit
    assert granted == limit


def test_chunked_counting_saves_round_trips_and_refuses_as_before(clock, monkeypatch):
    calls = []
    real = throttle._counts

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(throttle, "_counts", counted)
    monkeypatch.setattr(throttle, "_reserved", {})
    ident = uuid.uuid4().hex
    assert all(allow(ident, limit=1_000_000) for _ in range(1000))
    assert len(calls) <= 1000 / throttle.CHUNK_MAX + 2
    # small limits still count every event, and a refused one once
    calls.clear()
    small = uuid.uuid4().hex
    assert [allow(small) for _ in range(5)] == [True, True, True, False, False]
    assert len(calls) == 5


def test_a_refused_chunk_counts_one_event(clock, monkeypatch):
    monkeypatch.setattr(throttle, "_reserved", {})
    limit = throttle.CHUNK_FROM
    ident = uuid.uuid4().hex
    assert sum(allow(ident, limit=limit) for _ in range(limit + 3)) == limit
    monkeypatch.setattr(throttle, "_reserved", {})  # another process, whose first chunk is refused
    assert not allow(ident, limit=limit)
    clock.now += 60 + 30  # half the window later, half of the old count is left...
    monkeypatch.setattr(throttle, "_reserved", {})
    # ...of limit + 4 counted events (3 refusals here and one there): (limit + 4) / 2 of limit
    assert sum(allow(ident, limit=limit) for _ in range(limit)) == limit - (limit + 4) // 2
