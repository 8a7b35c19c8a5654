"""Reading a stored object back: data key unwrapped for the reader, ciphertext fetched and
checked against its recorded SHA-256, AES-256-GCM decrypted (and, for `read_object`, the
optional SIMULATED NEQR layer removed)."""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Iterator
from typing import Any

from crypto import envelope
from imaging import blobs
from imaging.models import ScanObject
from imaging.pipeline.status import DERIVED_KINDS
from imaging.storage import BlobCorrupted, BlobStore


def _unwrap_and_fetch(obj: ScanObject, *, reader: Any, store: BlobStore | None) -> tuple[bytes, bytes]:
    """(data key, ciphertext) of one stored object: key unwrapped for `reader` (with the wrap
    read along with `obj` when it was, see `prepare.read_original`), blob fetched and its
    SHA-256 checked against the one recorded when it was stored."""
    from portal.keys import unwrap_columns, unwrap_for

    if hasattr(obj, "wrapped"):
        key = unwrap_columns(
            object_id=obj.id,
            reader=reader,
            wrapped=obj.wrapped,
            sealed=obj.sealed,
            fingerprint=obj.fingerprint,
        )
    else:
        key = unwrap_for(object_id=obj.id, reader=reader)
    blob = (store or blobs.store()).get(obj.cid)
    if hashlib.sha256(blob).hexdigest() != obj.ciphertext_sha256:
        raise BlobCorrupted(f"ciphertext of {obj.kind} does not match its recorded SHA-256")
    return key, blob


def _unwrap_and_decrypt(obj: ScanObject, *, reader: Any, store: BlobStore | None) -> tuple[bytes, bytes]:
    """(data key, plaintext) of one stored object (`_unwrap_and_fetch`, then AES-256-GCM)."""
    key, blob = _unwrap_and_fetch(obj, reader=reader, store=store)
    return key, envelope.decrypt(blob, key, object_id=str(obj.id), kind=obj.kind, version=obj.version)


def stream_object(obj: ScanObject, *, reader: Any = None, store: BlobStore | None = None) -> Iterator[bytes]:
    """The plaintext of one stored object in its envelope's chunks (DICOMweb streams originals
    this way: memory of one chunk besides the ciphertext, nothing written to disk). The key is
    unwrapped and the ciphertext's recorded SHA-256 checked before this returns, so a chunk
    handed on cannot be followed by an integrity failure of the data; the first chunk is
    decrypted here too, so a key that does not open the object fails now, not mid-response."""
    key, blob = _unwrap_and_fetch(obj, reader=reader, store=store)
    chunks = envelope.decrypt_chunks(
        io.BytesIO(blob), key, object_id=str(obj.id), kind=obj.kind, version=obj.version
    )
    first = next(chunks, b"")
    return itertools.chain((first,), chunks)


def decrypt_object(obj: ScanObject, *, reader: Any = None, store: BlobStore | None = None) -> bytes:
    """Fetch one stored object, check its ciphertext SHA-256 and AES-256-GCM-decrypt it with
    the key wrapped for `reader` (a simulated NEQR layer, if any, is still on)."""
    return _unwrap_and_decrypt(obj, reader=reader, store=store)[1]


def read_object(obj: ScanObject, *, reader: Any = None, store: BlobStore | None = None) -> bytes:
    """`decrypt_object`, then derived objects of a scan uploaded with the simulated NEQR
    layer come back with the layer removed, so callers always get the PNG / canonical
    matrix bytes."""
    key, plaintext = _unwrap_and_decrypt(obj, reader=reader, store=store)
    if obj.kind in DERIVED_KINDS:
        from imaging import neqr_layer

        if neqr_layer.is_layered(plaintext):
            plaintext = neqr_layer.open(plaintext, key, object_id=str(obj.id))
    return plaintext
