"""Rate counters in the shared cache (Redis or the file cache: see CACHES in settings), so every
web process counts against the same limit.

Sliding-window estimate: the count of the current fixed window plus the previous window's,
weighted by how much of it still overlaps the last `window` seconds. Unlike a plain fixed
window it allows no double burst across a window boundary, and unlike a list of timestamps
its cost does not grow with the rate. On Redis a count is one round trip (INCRBY, EXPIRE and
the previous window's GET in one pipeline); on the other caches add + incr + touch + get.

Limits of CHUNK_FROM or more a window (the API's, at a hospital integration's rates) are
counted in chunks: a process adds up to CHUNK_MAX events to the shared count at once and
spends them locally, one round trip per chunk instead of per request. Reserved events count
as spent, so all processes together never pass the limit; a chunk shrinks to a single event
as the count nears the limit, so the last events are granted one by one, as without chunks.
Smaller limits (logins, token requests, consent changes, peers) count every event."""

from __future__ import annotations

import hashlib
import math
import threading
import time

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

CHUNK_FROM = 256
CHUNK_MAX = 32

# per process: a window's count key -> (events reserved and not yet spent, the chunk to reserve next)
_reserved: dict[str, tuple[int, int]] = {}
_reserved_lock = threading.Lock()


def _counts(key: str, previous: str, window: int, by: int = 1) -> tuple[int, int]:
    """Count `by` events under `key`; returns (this window's count, the previous window's)."""
    backend = caches["default"]  # `cache` is a proxy to it
    if isinstance(backend, RedisCache):
        # Django's Redis serializer stores ints as plain integers, so INCRBY sees what add/incr wrote
        full, prev_full = backend.make_and_validate_key(key), backend.make_and_validate_key(previous)
        pipe = backend._cache.get_client(full, write=True).pipeline(transaction=False)
        pipe.incrby(full, by)
        pipe.expire(full, 2 * window + 1)  # read as "previous" during the next window
        pipe.get(prev_full)
        count, _, prev = pipe.execute()
        return int(count), int(prev or 0)
    cache.add(key, 0, timeout=2 * window)
    try:
        count = cache.incr(key, by)
    except ValueError:  # expired between add and incr
        cache.set(key, by, timeout=2 * window)
        count = by
    # the file cache's incr rewrites the entry with the default timeout
    cache.touch(key, timeout=2 * window)
    return int(count), int(cache.get(previous) or 0)


def _uncount(key: str, by: int) -> None:
    """Take back `by` events counted under `key` (a chunk that was not granted whole)."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full = backend.make_and_validate_key(key)
        backend._cache.get_client(full, write=True).decrby(full, by)
    else:
        cache.decr(key, by)


def _spend_reserved(key: str) -> bool:
    with _reserved_lock:
        left, chunk = _reserved.get(key, (0, 0))
        if left > 0:
            _reserved[key] = (left - 1, chunk)
            return True
    return False


def throttle_allow(*, scope: str, ident: str, limit: int, window: int) -> bool:
    """Count one event for `ident` in `scope`; False once more than `limit` fall in the last
    `window` seconds (estimated). `ident` is hashed: no e-mail or address is stored as a key."""
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    now = time.time()
    index = int(now // window)
    key = f"qmc-throttle:{scope}:{digest}:{index}"
    chunk = 1
    if limit >= CHUNK_FROM:
        if _spend_reserved(key):
            return True
        chunk = _reserved.get(key, (0, min(CHUNK_MAX, limit // 64)))[1]
    count, prev = _counts(key, f"qmc-throttle:{scope}:{digest}:{index - 1}", window, chunk)
    overlap = 1.0 - (now - index * window) / window
    before = prev * overlap + count - chunk  # the estimate before this reservation
    granted = min(chunk, math.floor(limit - before))
    if chunk - max(granted, 1) > 0:  # a refused event still counts, as without chunks; the rest goes back
        _uncount(key, chunk - max(granted, 1))
    if limit >= CHUNK_FROM:
        left_after = limit - before - chunk
        with _reserved_lock:
            if len(_reserved) > 10000:  # many callers: their unspent reservations stay counted
                _reserved.clear()
            _reserved[key] = (max(granted - 1, 0), max(1, min(CHUNK_MAX, int(left_after // 64))))
    return granted >= 1


def seconds_left(window: int) -> int:
    """Seconds until the current `window`-second window ends (a Retry-After)."""
    return max(1, window - int(time.time()) % window)
