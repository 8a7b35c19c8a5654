"""Private keys at rest, and pseudonyms, keyed by the settings' master key.

`seal(plaintext, context=...)` / `unseal(blob, context=...)` read the master key from the
settings; the maths (AES-256-GCM under an HKDF-derived key, the context bound as associated
data) is in `crypto.sealing`, which takes the key explicitly.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from django.conf import settings

from crypto.sealing import SealError, derive, key_id, seal_with, sealed_key_id, unseal_with


def master_key() -> bytes:
    """The root of the derived keys (pseudonyms, de-identification, DICOM patient ids): the
    master key, or after a master-key rotation the original one (QMC_KEY_DERIVATION_ROOT), so
    that pseudonyms do not change when the sealing key does."""
    return bytes.fromhex(getattr(settings, "QMC_KEY_DERIVATION_ROOT", "") or settings.QMC_MASTER_KEY)


def sealing_key() -> bytes:
    """The master key that seals from now on."""
    return bytes.fromhex(settings.QMC_MASTER_KEY)


def sealing_keys() -> list[bytes]:
    """Every master key a blob may be sealed under: the current one, and during a rotation
    (`manage.py rotate_master_key`) the previous one."""
    keys = [sealing_key()]
    if getattr(settings, "QMC_MASTER_KEY_PREVIOUS", ""):
        keys.append(bytes.fromhex(settings.QMC_MASTER_KEY_PREVIOUS))
    return keys


def seal(plaintext: bytes, *, context: str) -> bytes:
    return seal_with(sealing_key(), plaintext, context=context)


def unseal(blob: bytes, *, context: str) -> bytes:
    """Opened with the key whose id the blob carries (a blob of the first format: each key in
    turn); SealError if none of ours opens it."""
    blob = bytes(blob)
    wanted = sealed_key_id(blob)
    error: SealError | None = None
    for key in sealing_keys():
        if wanted is not None and key_id(key) != wanted:
            continue
        try:
            return unseal_with(key, blob, context=context)
        except SealError as exc:
            error = exc
    raise error or SealError("sealed under a master key this installation does not hold")


@functools.lru_cache(maxsize=4)
def _pseudonym_key(configured: str, root: bytes) -> bytes:
    return bytes.fromhex(configured) if configured else derive(root, b"pseudonym")


def pseudonym(kind: str, ident: object) -> str:
    """Pseudonymous id for the ledger: HMAC-SHA256(pseudonym key, kind:id), hex, 32 chars."""
    key = _pseudonym_key(settings.QMC_PSEUDONYM_KEY, master_key())  # derived once per key
    return hmac.new(key, f"{kind}:{ident}".encode(), hashlib.sha256).hexdigest()[:32]
