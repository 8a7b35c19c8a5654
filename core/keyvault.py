"""Private keys at rest, and pseudonyms, keyed by the settings' master key.

`seal(plaintext, context=...)` / `unseal(blob, context=...)` read the master key from the
settings; the maths (AES-256-GCM under an HKDF-derived key, the context bound as associated
data) is in `crypto.sealing`, which takes the key explicitly.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

from crypto.sealing import derive, seal_with, unseal_with


def master_key() -> bytes:
    return bytes.fromhex(settings.QMC_MASTER_KEY)


def seal(plaintext: bytes, *, context: str) -> bytes:
    return seal_with(master_key(), plaintext, context=context)


def unseal(blob: bytes, *, context: str) -> bytes:
    return unseal_with(master_key(), blob, context=context)


def pseudonym(kind: str, ident: object) -> str:
    """Pseudonymous id for the ledger: HMAC-SHA256(pseudonym key, kind:id), hex, 32 chars."""
    key = (
        bytes.fromhex(settings.QMC_PSEUDONYM_KEY)
        if settings.QMC_PSEUDONYM_KEY
        else derive(master_key(), b"pseudonym")
    )
    return hmac.new(key, f"{kind}:{ident}".encode(), hashlib.sha256).hexdigest()[:32]
