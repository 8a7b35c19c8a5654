"""Sealing secrets at rest: AES-256-GCM under a key derived (HKDF-SHA256) from a master key.

`seal_with(master_key, plaintext, context=...)` / `unseal_with(master_key, blob, context=...)`.
The context string (for example "ledger.falcon512:<key id>") is bound as associated data, so
a sealed blob cannot be moved to another purpose. Pure: the caller passes the master key
(`core.keyvault` reads it from the settings).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"  # 0x01 | nonce (12) | ciphertext: the format before master-key rotation
VERSION2 = b"\x02"  # 0x02 | key id (8) | nonce (12) | ciphertext; the header is associated data too
KEY_ID_BYTES = 8


class SealError(ValueError):
    """A sealed blob was tampered with, truncated, or sealed under another key/context."""


def derive(master_key: bytes, label: bytes) -> bytes:
    """A 32-byte subkey of `master_key` for one purpose (`label`)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"qmedchain/" + label).derive(
        master_key
    )


def key_id(master_key: bytes) -> bytes:
    """The 8-byte id of a master key written in front of what it seals (HKDF, not the key), so
    that during a rotation a reader knows which of its keys opens a blob."""
    return derive(master_key, b"keyvault-key-id")[:KEY_ID_BYTES]


def sealed_key_id(blob: bytes) -> bytes | None:
    """The id of the master key that sealed `blob`; None for a blob of the first format."""
    blob = bytes(blob)
    return blob[1 : 1 + KEY_ID_BYTES] if blob[:1] == VERSION2 else None


def seal_with(master_key: bytes, plaintext: bytes, *, context: str) -> bytes:
    nonce = os.urandom(12)
    key = derive(master_key, b"keyvault")
    header = VERSION2 + key_id(master_key)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + context.encode())


def unseal_with(master_key: bytes, blob: bytes, *, context: str) -> bytes:
    blob = bytes(blob)
    if blob[:1] == VERSION2 and len(blob) >= 1 + KEY_ID_BYTES + 12 + 16:
        header, body = blob[: 1 + KEY_ID_BYTES], blob[1 + KEY_ID_BYTES :]
        if header[1:] != key_id(master_key):
            raise SealError("sealed blob was sealed under another master key")
        aad = header + context.encode()
    elif blob[:1] == VERSION and len(blob) >= 1 + 12 + 16:
        body, aad = blob[1:], context.encode()
    else:
        raise SealError("sealed blob is malformed")
    key = derive(master_key, b"keyvault")
    try:
        return AESGCM(key).decrypt(body[:12], body[12:], aad)
    except InvalidTag as exc:
        raise SealError("sealed blob failed authentication (wrong key, context or tampered)") from exc
