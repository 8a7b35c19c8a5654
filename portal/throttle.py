"""Rate counters in the shared cache (Redis or the file cache: see CACHES in settings), so every
web process counts against the same limit.

Sliding-window estimate: the count of the current fixed window plus the previous window's,
weighted by how much of it still overlaps the last `window` seconds. Unlike a plain fixed
window it allows no double burst across a window boundary, and unlike a list of timestamps
its cost does not grow with the rate. On Redis a count is one round trip (INCR, EXPIRE and
the previous window's GET in one pipeline); on the other caches add + incr + touch + get."""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache


def _counts(key: str, previous: str, window: int) -> tuple[int, int]:
    """Count one event under `key`; returns (this window's count, the previous window's)."""
    backend = caches["default"]  # `cache` is a proxy to it
    if isinstance(backend, RedisCache):
        # Django's Redis serializer stores ints as plain integers, so INCR sees what add/incr wrote
        full, prev_full = backend.make_and_validate_key(key), backend.make_and_validate_key(previous)
        pipe = backend._cache.get_client(full, write=True).pipeline(transaction=False)
        pipe.incr(full)
        pipe.expire(full, 2 * window + 1)  # read as "previous" during the next window
        pipe.get(prev_full)
        count, _, prev = pipe.execute()
        return int(count), int(prev or 0)
    cache.add(key, 0, timeout=2 * window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=2 * window)
        count = 1
    # the file cache's incr rewrites the entry with the default timeout
    cache.touch(key, timeout=2 * window)
    return int(count), int(cache.get(previous) or 0)


def throttle_allow(*, scope: str, ident: str, limit: int, window: int) -> bool:
    """Count one event for `ident` in `scope`; False once more than `limit` fall in the last
    `window` seconds (estimated). `ident` is hashed: no e-mail or address is stored as a key."""
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    now = time.time()
    index = int(now // window)
    count, prev = _counts(
        f"qmc-throttle:{scope}:{digest}:{index}", f"qmc-throttle:{scope}:{digest}:{index - 1}", window
    )
    overlap = 1.0 - (now - index * window) / window
    return prev * overlap + count <= limit


def seconds_left(window: int) -> int:
    """Seconds until the current `window`-second window ends (a Retry-After)."""
    return max(1, window - int(time.time()) % window)
