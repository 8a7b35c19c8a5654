"""Stage 3, encrypting: each derived object (preview PNG, canonical matrix) encrypted with
AES-256-GCM under a new data key, with the optional SIMULATED NEQR layer applied under it
(never instead of it). Pure: no database, no storage; the keys are wrapped when the sealed
objects are staged (`imaging.pipeline.store.stage`)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from crypto import envelope
from imaging import preprocess
from imaging.pipeline.prepare import Prepared
from imaging.pipeline.status import DERIVED_KINDS, MATRIX, PREVIEW, derived_object_id
from imaging.storage import cid_for


@dataclass(frozen=True)
class Sealed:
    """A derived object encrypted under a new data key, not yet staged."""

    object_id: uuid.UUID
    key: bytes
    ciphertext: bytes
    cid: str
    ciphertext_sha256: str
    plaintext_size: int


def plaintexts(prepared: Prepared) -> dict[str, bytes]:
    """{kind: plaintext} of the derived objects: the preview PNG and the canonical matrix."""
    return {
        PREVIEW: preprocess.render_preview(prepared.decoded.display),
        MATRIX: preprocess.canonical_bytes(prepared.matrix),
    }


def encrypt(kind: str, object_id: Any, plaintext: bytes, key: bytes, *, neqr_layer: bool) -> bytes:
    """AES-256-GCM of one derived object (associated data: object id, kind, version 1)."""
    if neqr_layer:
        from imaging import neqr_layer as layer

        plaintext = layer.apply(kind, plaintext, key, object_id=str(object_id))
    return envelope.encrypt(plaintext, key, object_id=str(object_id), kind=kind, version=1)


def seal(scan_id: Any, kind: str, plaintext: bytes, *, neqr_layer: bool, key: bytes | None = None) -> Sealed:
    """One derived object encrypted under `key` (a new data key when None)."""
    object_id, key = derived_object_id(scan_id, kind), key or envelope.new_data_key()
    # the simulated NEQR layer is defined for the preview and the matrix only (not the saliency map)
    ct = encrypt(kind, object_id, plaintext, key, neqr_layer=neqr_layer and kind in DERIVED_KINDS)
    return Sealed(object_id, key, ct, cid_for(ct), hashlib.sha256(ct).hexdigest(), len(plaintext))


def seal_all(scan_id: Any, plain: dict[str, bytes], *, neqr_layer: bool) -> dict[str, Sealed]:
    """{kind: Sealed}: each derived object (and the saliency map, when `plain` has one)
    encrypted under a new data key."""
    return {kind: seal(scan_id, kind, plain[kind], neqr_layer=neqr_layer) for kind in plain}
