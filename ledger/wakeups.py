"""The appender thread's doorbell: whether this process runs one, and how to wake it.

Kept apart from `ledger.appender` (the thread's loop, which calls `ledger.services`) so that
`ledger.services` can ring the bell without importing the loop that imports it.
"""

from __future__ import annotations

import os
import threading

_cond = threading.Condition()
_waiting = [0]  # events notified since the thread last took a batch
_stop = threading.Event()
_thread: list = [None, None]  # [threading.Thread, pid it was started in]


def running() -> bool:
    """True in a process whose appender thread is alive."""
    thread, pid = _thread
    return thread is not None and pid == os.getpid() and thread.is_alive()


def notify(events: int = 1) -> None:
    """Tell the thread that `events` were recorded (returns at once)."""
    with _cond:
        _waiting[0] += events
        _cond.notify()


def on_thread() -> bool:
    """True when called on the appender thread."""
    return threading.current_thread() is _thread[0]
