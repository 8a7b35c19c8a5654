"""Stage 4, storing: the sealed objects staged, then put in the blob store.

* `stage`: ONE transaction wraps the new data keys (system, patient, current readers),
  records each object's CID and SHA-256 (`StagedObject`) and moves the scan to `storing`,
  BEFORE any derived blob is written. Its status UPDATE holds the scan's row lock until the
  commit, so a concurrent delivery waits and then finds the objects staged.
* `restage`: a staged object whose blob never reached the store (the worker stopped in
  between) is encrypted again under its already wrapped key, and its new CID recorded
  before the put.
* `put_all`: ``put`` of the same bytes returns the same CID; only the delivery holding the
  claim puts or re-stages, so a redelivery cannot orphan a blob. `discard_unnamed` deletes
  the blobs a delivery put that no row names (it lost the scan to another delivery).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from imaging.models import Scan, ScanObject, StagedObject
from imaging.pipeline import seal
from imaging.pipeline.status import ORIGINAL, STORING, ClaimLost, advance
from imaging.storage import BlobStore, StorageUnavailable

log = logging.getLogger(__name__)


def stage(scan: Scan, sealed: dict[str, seal.Sealed]) -> tuple[dict[Any, bytes], list[StagedObject]]:
    """Stage the `sealed` objects neither staged nor stored yet. Returns ({object id:
    ciphertext}, the new StagedObject rows); the caller puts those bytes. Objects staged by
    an earlier delivery are left to `pending` (their sealed copies here are dropped: their
    keys were never wrapped)."""
    from portal import keys

    with transaction.atomic(durable=True):
        advance(scan, STORING)  # the scan's row lock, until the commit
        done = set(ScanObject.objects.filter(scan_id=scan.pk).values_list("kind", flat=True))
        done |= set(StagedObject.objects.filter(scan_id=scan.pk).values_list("kind", flat=True))
        todo = {kind: obj for kind, obj in sealed.items() if kind not in done}
        if not todo:
            return {}, []
        # whoever holds the original's key: consent changes keep its wraps current
        original = ScanObject.objects.filter(scan_id=scan.pk, kind=ORIGINAL).values("id")
        keys.wrap_like(
            source=original,
            patient_id=scan.patient_id,
            data_keys={obj.object_id: obj.key for obj in todo.values()},
        )
        rows = StagedObject.objects.bulk_create(
            [
                StagedObject(
                    id=obj.object_id,
                    scan=scan,
                    kind=kind,
                    version=1,
                    cid=obj.cid,
                    ciphertext_sha256=obj.ciphertext_sha256,
                    plaintext_size=obj.plaintext_size,
                )
                for kind, obj in todo.items()
            ]
        )
    return {obj.object_id: obj.ciphertext for obj in todo.values()}, rows


def restage(scan: Scan, staged: StagedObject, plaintext: bytes) -> bytes:
    """Encrypt a staged object again under its already wrapped key and record the new CID
    (under the scan's row lock, and only while this delivery holds the claim); returns the
    new ciphertext for the caller to put."""
    from portal.keys import unwrap_for

    key = unwrap_for(object_id=staged.id, reader=None)
    again = seal.seal(scan.pk, staged.kind, plaintext, neqr_layer=scan.neqr_layer, key=key)
    with transaction.atomic(durable=True):
        advance(scan, STORING)  # ClaimLost unless this delivery still holds the scan
        # the new CID replaces exactly the one this delivery found
        if not StagedObject.objects.filter(pk=staged.pk, cid=staged.cid).update(
            cid=again.cid, ciphertext_sha256=again.ciphertext_sha256, plaintext_size=again.plaintext_size
        ):
            raise ClaimLost(f"the staged {staged.kind} of scan {scan.pk} changed under this delivery")
    staged.cid, staged.ciphertext_sha256, staged.plaintext_size = (
        again.cid,
        again.ciphertext_sha256,
        again.plaintext_size,
    )
    return again.ciphertext


def pending(scan_id: Any, staged_now: list[StagedObject]) -> list[StagedObject]:
    """The staged objects to store: those this delivery just staged when it staged every
    derived kind (no read), else every staged row of the scan."""
    from imaging.pipeline.status import DERIVED_KINDS

    if {s.kind for s in staged_now} == set(DERIVED_KINDS):
        return staged_now
    return list(StagedObject.objects.filter(scan_id=scan_id).order_by("kind"))


def put_all(store: BlobStore, puts: Iterable[tuple[StagedObject, bytes]]) -> list[str]:
    """Put each (staged row, ciphertext); returns the CIDs put. StorageUnavailable leaves the
    scan `storing` with its objects staged: the retry puts what is missing."""
    cids = []
    for staged, ciphertext in puts:
        staged.cid = store.put(ciphertext)
        cids.append(staged.cid)
    return cids


def discard_unnamed(store: BlobStore, cids: Iterable[str]) -> None:
    """Delete the blobs this delivery put that no row names (it lost the scan to another
    delivery, which staged or stored its own): a blob a row names is someone's and stays."""
    cids = set(cids)
    if not cids:
        return
    named = set(ScanObject.objects.filter(cid__in=cids).values_list("cid", flat=True))
    named |= set(StagedObject.objects.filter(cid__in=cids).values_list("cid", flat=True))
    for cid in cids - named:
        try:
            store.delete(cid)
        except StorageUnavailable:
            log.error("could not delete blob %s put by a delivery that lost its scan", cid, exc_info=True)
