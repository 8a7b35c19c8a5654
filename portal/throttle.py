"""Fixed-window counters in the shared cache (Redis or the file cache: see CACHES in settings),
so every web process counts against the same limit."""

import hashlib
import time

from django.core.cache import cache


def throttle_allow(*, scope: str, ident: str, limit: int, window: int) -> bool:
    """Count one event for `ident` in `scope`; False once more than `limit` fall in the current
    `window`-second window. `ident` is hashed: no e-mail or address is stored as a key."""
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    key = f"qmc-throttle:{scope}:{digest}:{int(time.time() // window)}"
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        count = 1
    # Redis keeps the expiry on INCR; the file cache's incr rewrites the entry with the default timeout
    cache.touch(key, timeout=window)
    return count <= limit
