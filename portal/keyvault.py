"""Private keys at rest: sealed with AES-256-GCM under a key derived from the master key.

`seal(plaintext, context=...)` / `unseal(blob, context=...)`. The context string (for
example "ledger.falcon512:<key id>") is bound as associated data, so a sealed blob cannot
be moved to another purpose. Reads the master key from settings; the maths is in
`seal_with`/`unseal_with`, which take the key explicitly.
"""

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"


class SealError(ValueError):
    """A sealed blob was tampered with, truncated, or sealed under another key/context."""


def _derive(master_key: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"qmedchain/" + label).derive(
        master_key
    )


def seal_with(master_key: bytes, plaintext: bytes, *, context: str) -> bytes:
    nonce = os.urandom(12)
    key = _derive(master_key, b"keyvault")
    return VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, context.encode())


def unseal_with(master_key: bytes, blob: bytes, *, context: str) -> bytes:
    if len(blob) < 1 + 12 + 16 or blob[:1] != VERSION:
        raise SealError("sealed blob is malformed")
    key = _derive(master_key, b"keyvault")
    try:
        return AESGCM(key).decrypt(blob[1:13], blob[13:], context.encode())
    except InvalidTag as exc:
        raise SealError("sealed blob failed authentication (wrong key, context or tampered)") from exc


def master_key() -> bytes:
    from django.conf import settings

    return bytes.fromhex(settings.QMC_MASTER_KEY)


def seal(plaintext: bytes, *, context: str) -> bytes:
    return seal_with(master_key(), plaintext, context=context)


def unseal(blob: bytes, *, context: str) -> bytes:
    return unseal_with(master_key(), blob, context=context)


def pseudonym(kind: str, ident: object) -> str:
    """Pseudonymous id for the ledger: HMAC-SHA256(pseudonym key, kind:id), hex, 32 chars."""
    from django.conf import settings

    key = (
        bytes.fromhex(settings.QMC_PSEUDONYM_KEY)
        if settings.QMC_PSEUDONYM_KEY
        else _derive(master_key(), b"pseudonym")
    )
    return hmac.new(key, f"{kind}:{ident}".encode(), hashlib.sha256).hexdigest()[:32]
