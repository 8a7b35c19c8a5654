"""The configured blob store, plus an outage switch for the reliability tests.

`store()` is `imaging.storage.get_store` with the settings' blob directory / IPFS URL.
When the environment variable ``QMC_TEST_STORAGE_DOWN_FILE`` names a file and that file
exists, every store call raises `StorageUnavailable`, as an unreachable backend would;
tests create and delete the file to take the backend down and bring it back. The variable
is unset outside tests.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

from imaging.storage import BlobStore, StorageUnavailable, get_store

# seconds a client is asked to wait (Retry-After) when the store is down
OUTAGE_RETRY_AFTER = 30


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


def store() -> BlobStore:
    inner = get_store(blob_dir=settings.QMC_BLOB_DIR, ipfs_api_url=settings.IPFS_API_URL)
    flag = os.environ.get("QMC_TEST_STORAGE_DOWN_FILE")
    return _OutageSwitch(inner, Path(flag)) if flag else inner
