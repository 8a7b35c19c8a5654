"""Process-local thread pools for C work that releases the GIL (Falcon signing, OpenCV).

A Celery prefork worker forks its pool processes after import: a pool made in the parent
would have no threads in the child, so each process makes its own on first use."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_pools: dict[str, tuple[ThreadPoolExecutor, int]] = {}


def pool(name: str, threads: int) -> ThreadPoolExecutor:
    """This process's pool `name` (made with `threads` threads on first use)."""
    entry = _pools.get(name)
    if entry is None or entry[1] != os.getpid():
        entry = (ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix=name), os.getpid())
        _pools[name] = entry
    return entry[0]


def lower_priority(by: int) -> bool:
    """Lower the CPU priority of the calling thread only (Linux: a thread's nice value is its
    own); True if it was lowered. For work off the scans' path, such as ledger signing: under
    load it runs in the time the scan's thread spends waiting rather than taking its turns
    on the CPU. Raising the nice value needs no privilege."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + by))
    except (AttributeError, OSError):  # not Linux: the thread keeps the process's priority
        return False
    return True
