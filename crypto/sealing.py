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

VERSION = b"\x01"


class SealError(ValueError):
    """A sealed blob was tampered with, truncated, or sealed under another key/context."""


def derive(master_key: bytes, label: bytes) -> bytes:
    """A 32-byte subkey of `master_key` for one purpose (`label`)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"qmedchain/" + label).derive(
        master_key
    )


def seal_with(master_key: bytes, plaintext: bytes, *, context: str) -> bytes:
    nonce = os.urandom(12)
    key = derive(master_key, b"keyvault")
    return VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, context.encode())


def unseal_with(master_key: bytes, blob: bytes, *, context: str) -> bytes:
    if len(blob) < 1 + 12 + 16 or blob[:1] != VERSION:
        raise SealError("sealed blob is malformed")
    key = derive(master_key, b"keyvault")
    try:
        return AESGCM(key).decrypt(blob[1:13], blob[13:], context.encode())
    except InvalidTag as exc:
        raise SealError("sealed blob failed authentication (wrong key, context or tampered)") from exc
