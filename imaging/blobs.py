"""The configured blob store: `imaging.storage.get_store` with the settings' blob directory
/ IPFS URL. (The reliability tests' outage switch is `imaging.pipeline.faults.storage`.)"""

from __future__ import annotations

from django.conf import settings

from imaging.storage import BlobStore, get_store

# seconds a client is asked to wait (Retry-After) when the store is down
OUTAGE_RETRY_AFTER = 30


def store() -> BlobStore:
    return get_store(blob_dir=settings.QMC_BLOB_DIR, ipfs_api_url=settings.IPFS_API_URL)
