"""Content-addressed blob directory (the default backend; pure module, no Django).

Layout::

    <root>/<shard>/<cid>      shard = the 2 base32 characters after the constant
                              "bafkrei" prefix, i.e. taken from the digest: 1024 shards
    <root>/.tmp/              temporary files, same file system as the blobs

Writes are atomic: temp file in ``.tmp`` -> write -> flush -> fsync -> ``os.replace`` onto
the final name -> fsync of the shard directory. A reader therefore sees either no file or
the complete file. Concurrent ``put`` of the same bytes is safe: each writer has its own
temp file and the last ``os.replace`` wins with identical content.

Every I/O error (temp file, directory creation, write, fsync, rename, read, delete) is
``StorageUnavailable``: an unwritable or full store is an outage to retry, not a bug.
A write cut off by a killed process leaves a ``*.part`` file in ``.tmp``;
``clean_partial`` removes those older than a few minutes (the worker's sweep calls it).

Every ``get`` re-hashes the bytes (``BlobCorrupted`` on mismatch). CIDs are validated
strictly (``validate_cid``) before they come near a path, so a CID can never act as one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from pathlib import Path

from .base import BlobCorrupted, BlobNotFound, StorageUnavailable, cid_for, validate_cid, verify

__all__ = ["LocalCAS"]

_PREFIX_LEN = len("bafkrei")
PART_SUFFIX = ".part"


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
        try:
            if path.is_file():
                verify(cid, path.read_bytes())
                return cid  # already stored and intact
        except BlobCorrupted:
            pass  # heal: rewrite it below
        except OSError as exc:  # e.g. a shard directory that may not be searched
            raise StorageUnavailable(f"could not check blob {cid}: {exc}") from exc
        self._ensure_dirs(path.parent)
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix=cid[-8:] + ".", suffix=PART_SUFFIX)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, self.file_mode)
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise StorageUnavailable(f"could not write blob {cid}: {exc}") from exc
        self._fsync_dir(path.parent)
        return cid

    def clean_partial(self, *, older_than: float) -> int:
        """Remove the partial temporary files (``*.part``, left by writes cut off by a
        killed process) older than `older_than` seconds; returns how many. A write in
        progress is younger than that, and a file removed under it ends in
        ``StorageUnavailable`` (retried), never in a bad blob."""
        cutoff = time.time() - older_than
        removed = 0
        try:
            entries = list(os.scandir(self._tmp))
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StorageUnavailable(f"could not list {self._tmp}: {exc}") from exc
        for entry in entries:
            if not entry.name.endswith(PART_SUFFIX):
                continue
            try:
                old = entry.stat(follow_symlinks=False).st_mtime < cutoff
                if old and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue  # removed meanwhile (its write finished, or another sweeper)
            except OSError as exc:
                raise StorageUnavailable(f"could not remove {entry.path}: {exc}") from exc
        return removed

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
        path = self.path_for(cid)
        try:
            return path.is_file()
        except OSError as exc:
            raise StorageUnavailable(f"could not check blob {cid}: {exc}") from exc

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
        """Make the rename durable; StorageUnavailable if the directory cannot be synced (a
        file system that does not sync directories at all is fine)."""
        try:
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
                return
            raise StorageUnavailable(f"could not sync {directory.name}: {exc}") from exc
