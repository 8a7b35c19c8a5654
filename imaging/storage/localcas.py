"""Content-addressed blob directory (the default backend; pure module, no Django).

Layout::

    <root>/<shard>/<cid>      shard = the 2 base32 characters after the constant
                              "bafkrei" prefix, i.e. taken from the digest: 1024 shards
    <root>/.tmp/              temporary files, same file system as the blobs

Writes are atomic: temp file in ``.tmp`` -> write -> flush -> fsync -> ``os.replace`` onto
the final name -> fsync of the shard directory. A reader therefore sees either no file or
the complete file. Concurrent ``put`` of the same bytes is safe: each writer has its own
temp file and the last ``os.replace`` wins with identical content.

Every ``get`` re-hashes the bytes (``BlobCorrupted`` on mismatch). CIDs are validated
strictly (``validate_cid``) before they come near a path, so a CID can never act as one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .base import BlobCorrupted, BlobNotFound, StorageUnavailable, cid_for, validate_cid, verify

__all__ = ["LocalCAS"]

_PREFIX_LEN = len("bafkrei")


class LocalCAS:
    name = "localcas"

    def __init__(self, root: Path | str, *, file_mode: int = 0o640) -> None:
        self.root = Path(root).resolve()
        self.file_mode = file_mode
        self._tmp = self.root / ".tmp"

    def __repr__(self) -> str:
        return f"LocalCAS({str(self.root)!r})"

    # -- paths
    def path_for(self, cid: str) -> Path:
        cid = validate_cid(cid)
        path = self.root / cid[_PREFIX_LEN : _PREFIX_LEN + 2] / cid
        # Belt and braces: validate_cid already forbids any path syntax.
        if path.parent.parent != self.root:
            raise AssertionError("CID escaped the store root")
        return path

    def _ensure_dirs(self, shard: Path) -> None:
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            shard.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"blob directory not writable: {exc}") from exc

    # -- BlobStore
    def put(self, data: bytes) -> str:
        data = bytes(data)
        cid = cid_for(data)
        path = self.path_for(cid)
        if path.is_file():
            try:
                verify(cid, path.read_bytes())
                return cid  # already stored and intact
            except (BlobCorrupted, OSError):
                pass  # heal: rewrite it below
        self._ensure_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix=cid[-8:] + ".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, self.file_mode)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise StorageUnavailable(f"could not write blob {cid}: {exc}") from exc
        self._fsync_dir(path.parent)
        return cid

    def get(self, cid: str) -> bytes:
        path = self.path_for(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(cid) from None
        except OSError as exc:
            raise StorageUnavailable(f"could not read blob {cid}: {exc}") from exc
        return verify(cid, data)

    def exists(self, cid: str) -> bool:
        return self.path_for(cid).is_file()

    def delete(self, cid: str) -> None:
        path = self.path_for(cid)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"could not delete blob {cid}: {exc}") from exc

    def ping(self) -> bool:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            return os.access(self.root, os.W_OK | os.X_OK)
        except OSError:
            return False

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
