"""Blob storage backends (pure package, no Django): local content-addressed directory or IPFS.

``get_store`` picks the backend: ``KuboRPC`` when an IPFS RPC URL is configured, else
``LocalCAS``. Everything callers need is re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from .base import (
    BlobCorrupted,
    BlobNotFound,
    BlobStore,
    InvalidCID,
    StorageError,
    StorageUnavailable,
    cid_for,
    digest_of,
    validate_cid,
)
from .kubo import KuboRPC
from .localcas import LocalCAS

__all__ = [
    "BlobCorrupted",
    "BlobNotFound",
    "BlobStore",
    "InvalidCID",
    "KuboRPC",
    "LocalCAS",
    "StorageError",
    "StorageUnavailable",
    "cid_for",
    "digest_of",
    "get_store",
    "validate_cid",
]


def get_store(
    *, blob_dir: Path | str, ipfs_api_url: str = "", timeout: float = 10, retries: int = 3
) -> BlobStore:
    """``KuboRPC(ipfs_api_url)`` if a URL is given, else ``LocalCAS(blob_dir)``."""
    if ipfs_api_url:
        return KuboRPC(ipfs_api_url, timeout=timeout, retries=retries)
    return LocalCAS(Path(blob_dir))
