"""Process-local thread pools for C work that releases the GIL (Falcon signing, OpenCV).

A Celery prefork worker forks its pool processes after import: a pool made in the parent
would have no threads in the child, so each process makes its own on first use."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_pools: dict[str, tuple[ThreadPoolExecutor, int]] = {}


def pool(name: str, threads: int) -> ThreadPoolExecutor:
    """This process's pool `name` (made with `threads` threads on first use)."""
    entry = _pools.get(name)
    if entry is None or entry[1] != os.getpid():
        entry = (ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix=name), os.getpid())
        _pools[name] = entry
    return entry[0]
