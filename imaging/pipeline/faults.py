"""Fault injection for the reliability tests and benches, off unless the setting
``QMC_FAULTS`` is on (environment ``QMC_FAULTS=1``, which only the tests' worker fixture and
``bench/recovery.py`` set). With it off, `point` does nothing and `storage` returns the
store it is given.

* ``QMC_TEST_STAGE_DELAY`` (e.g. ``storing=5,stored=3``): the runner sleeps that many
  seconds at the named `point` so that a test can kill the worker there. The points:
  ``preprocessing``, ``diagnosing``, ``encrypting``, ``storing``, ``stored`` (the derived
  blobs put, before the recording transaction) and ``recording`` (inside it, after the
  scan's row lock is taken). In-process tests patch `point` instead.
* ``QMC_TEST_STORAGE_DOWN_FILE``: while the file it names exists, every call of the store
  the runner uses raises `StorageUnavailable`, as an unreachable backend would.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings

from imaging.storage import BlobStore, StorageUnavailable


def enabled() -> bool:
    return bool(getattr(settings, "QMC_FAULTS", False))


def point(name: str) -> None:
    """A stage boundary of the runner: sleep there if ``QMC_TEST_STAGE_DELAY`` says so."""
    if not enabled():
        return
    for item in os.environ.get("QMC_TEST_STAGE_DELAY", "").split(","):
        stage, _, seconds = item.partition("=")
        if stage.strip() == name and seconds:
            time.sleep(float(seconds))


def storage(store: BlobStore) -> BlobStore:
    """`store`, behind the outage switch when ``QMC_TEST_STORAGE_DOWN_FILE`` is set."""
    flag = os.environ.get("QMC_TEST_STORAGE_DOWN_FILE") if enabled() else None
    return _OutageSwitch(store, Path(flag)) if flag else store


class _OutageSwitch:
    def __init__(self, inner: BlobStore, flag: Path) -> None:
        self._inner = inner
        self._flag = flag
        self.name = inner.name

    def _check(self) -> None:
        if self._flag.exists():
            raise StorageUnavailable(f"{self.name}: backend unreachable (test outage switch is on)")

    def put(self, data: bytes) -> str:
        self._check()
        return self._inner.put(data)

    def get(self, cid: str) -> bytes:
        self._check()
        return self._inner.get(cid)

    def exists(self, cid: str) -> bool:
        self._check()
        return self._inner.exists(cid)

    def delete(self, cid: str) -> None:
        self._check()
        self._inner.delete(cid)

    def ping(self) -> bool:
        return not self._flag.exists() and self._inner.ping()

    def clean_partial(self, *, older_than: float) -> int:
        clean = getattr(self._inner, "clean_partial", None)
        return clean(older_than=older_than) if clean else 0
