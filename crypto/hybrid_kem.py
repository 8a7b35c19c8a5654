"""Hybrid post-quantum key wrapping: ML-KEM-768 + X25519 -> HKDF-SHA256 -> AES-256-GCM.

Pure module (no Django). A data key is wrapped for one recipient so that an attacker must
break *both* ML-KEM-768 (FIPS 203, via ``pqcrypto``) and X25519 (``cryptography``) to
recover it:

1. ``ct_pq, ss_pq = ML-KEM-768.Encaps(pk_pq)``
2. ephemeral X25519 key ``e``; ``ss_x = X25519(e, pk_x)``
3. ``kek = HKDF-SHA256(ikm = ss_pq || ss_x, salt = label,
   info = label || len||ct_pq || eph_pk || len||recipient_public_key || len||context)``
   -- binding both KEM ciphertexts, the whole recipient public key and the caller's
   ``context`` (e.g. ``b"scan:42/preview/v1 reader:7"``) in the style of X-Wing's combiner.
4. ``AES-256-GCM(kek, nonce, data_key, aad = wrapped-blob header)``.

ML-KEM has *implicit rejection*: decapsulating with the wrong secret key (or a modified
ciphertext) yields a pseudo-random shared secret, not an error, so what detects a wrong
key, wrong context or tampering is the AES-GCM tag in step 4; :func:`unwrap` turns it into
:class:`UnwrapError`.

Serialised formats (all versioned by a 4-byte magic and a 1-byte version)::

    public  = b"QMKP" | 0x01 | mlkem_pk (1184) | x25519_pk (32)                 = 1221 bytes
    private = b"QMKS" | 0x01 | mlkem_sk (2400) | x25519_sk (32) | public (1221)  = 3658 bytes
    wrapped = b"QMKW" | 0x01 | mlkem_ct (1088) | eph_x25519_pk (32) | nonce (12)
              | AES-GCM(data_key) (len(data_key) + 16)
"""

from __future__ import annotations

import hashlib
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pqcrypto.kem import ml_kem_768

__all__ = [
    "UnwrapError",
    "generate_keypair",
    "key_fingerprint",
    "public_key_from_private",
    "unwrap",
    "wrap",
]

VERSION = 1
_PUB_MAGIC, _PRIV_MAGIC, _WRAP_MAGIC = b"QMKP", b"QMKS", b"QMKW"
_PQ_PK, _PQ_SK, _PQ_CT = (
    ml_kem_768.PUBLIC_KEY_SIZE,
    ml_kem_768.SECRET_KEY_SIZE,
    ml_kem_768.CIPHERTEXT_SIZE,
)
_X = 32
_NONCE = 12
_TAG = 16
PUBLIC_KEY_SIZE = 5 + _PQ_PK + _X
PRIVATE_KEY_SIZE = 5 + _PQ_SK + _X + PUBLIC_KEY_SIZE
_WRAP_FIXED = 5 + _PQ_CT + _X + _NONCE
_LABEL = b"QMedChain hybrid KEM v1: ML-KEM-768+X25519/HKDF-SHA256/AES-256-GCM"
MAX_DATA_KEY = 1024


class UnwrapError(Exception):
    """The wrapped key could not be opened: wrong private key, wrong context or tampering."""


def _lp(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _parse_public(public_key: bytes) -> tuple[bytes, bytes]:
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != PUBLIC_KEY_SIZE:
        raise ValueError("not a QMedChain hybrid public key (wrong length)")
    if public_key[:4] != _PUB_MAGIC or public_key[4] != VERSION:
        raise ValueError("not a QMedChain hybrid public key (bad magic/version)")
    return bytes(public_key[5 : 5 + _PQ_PK]), bytes(public_key[5 + _PQ_PK :])


def _parse_private(private_key: bytes) -> tuple[bytes, bytes, bytes]:
    if not isinstance(private_key, bytes | bytearray) or len(private_key) != PRIVATE_KEY_SIZE:
        raise ValueError("not a QMedChain hybrid private key (wrong length)")
    if private_key[:4] != _PRIV_MAGIC or private_key[4] != VERSION:
        raise ValueError("not a QMedChain hybrid private key (bad magic/version)")
    sk_pq = bytes(private_key[5 : 5 + _PQ_SK])
    sk_x = bytes(private_key[5 + _PQ_SK : 5 + _PQ_SK + _X])
    public = bytes(private_key[5 + _PQ_SK + _X :])
    _parse_public(public)
    return sk_pq, sk_x, public


def generate_keypair() -> tuple[bytes, bytes]:
    """Return ``(public_key, private_key)``, each one serialised, versioned blob."""
    pk_pq, sk_pq = ml_kem_768.generate_keypair()
    x_sk = X25519PrivateKey.generate()
    sk_x = x_sk.private_bytes_raw()
    pk_x = x_sk.public_key().public_bytes_raw()
    public = _PUB_MAGIC + bytes([VERSION]) + bytes(pk_pq) + pk_x
    private = _PRIV_MAGIC + bytes([VERSION]) + bytes(sk_pq) + sk_x + public
    return public, private


def public_key_from_private(private_key: bytes) -> bytes:
    """The public key blob embedded in a private key blob."""
    return _parse_private(private_key)[2]


def key_fingerprint(public_key: bytes) -> str:
    """Hex of the first 16 bytes of SHA-256 over the serialised public key (32 hex chars)."""
    _parse_public(public_key)
    return hashlib.sha256(bytes(public_key)).digest()[:16].hex()


def _kek(ss_pq: bytes, ss_x: bytes, ct_pq: bytes, eph_pk: bytes, public: bytes, context: bytes) -> bytes:
    info = _LABEL + _lp(ct_pq) + _lp(eph_pk) + _lp(public) + _lp(context)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_LABEL, info=info).derive(ss_pq + ss_x)


def _check_context(context: bytes) -> bytes:
    if not isinstance(context, bytes | bytearray):
        raise TypeError("context must be bytes")
    return bytes(context)


def wrap(public_key: bytes, data_key: bytes, *, context: bytes) -> bytes:
    """Wrap ``data_key`` for the holder of ``public_key``'s private key, bound to ``context``."""
    pk_pq, pk_x = _parse_public(public_key)
    context = _check_context(context)
    if not isinstance(data_key, bytes | bytearray) or not 1 <= len(data_key) <= MAX_DATA_KEY:
        raise ValueError(f"data_key must be 1..{MAX_DATA_KEY} bytes")
    ct_pq, ss_pq = ml_kem_768.encrypt(pk_pq)
    eph = X25519PrivateKey.generate()
    eph_pk = eph.public_key().public_bytes_raw()
    ss_x = eph.exchange(X25519PublicKey.from_public_bytes(pk_x))
    kek = _kek(bytes(ss_pq), ss_x, bytes(ct_pq), eph_pk, bytes(public_key), context)
    header = _WRAP_MAGIC + bytes([VERSION])
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(kek).encrypt(nonce, bytes(data_key), header)
    return header + bytes(ct_pq) + eph_pk + nonce + sealed


def unwrap(private_key: bytes, wrapped: bytes, *, context: bytes) -> bytes:
    """Recover the data key; raises :class:`UnwrapError` on wrong key/context or tampering."""
    sk_pq, sk_x, public = _parse_private(private_key)
    context = _check_context(context)
    if not isinstance(wrapped, bytes | bytearray):
        raise UnwrapError("wrapped key must be bytes")
    wrapped = bytes(wrapped)
    if len(wrapped) < _WRAP_FIXED + _TAG + 1:
        raise UnwrapError("wrapped key truncated")
    if wrapped[:4] != _WRAP_MAGIC or wrapped[4] != VERSION:
        raise UnwrapError("not a QMedChain wrapped key (bad magic/version)")
    off = 5
    ct_pq = wrapped[off : off + _PQ_CT]
    off += _PQ_CT
    eph_pk = wrapped[off : off + _X]
    off += _X
    nonce = wrapped[off : off + _NONCE]
    sealed = wrapped[off + _NONCE :]
    try:
        ss_pq = bytes(ml_kem_768.decrypt(sk_pq, ct_pq))
        ss_x = X25519PrivateKey.from_private_bytes(sk_x).exchange(X25519PublicKey.from_public_bytes(eph_pk))
    except Exception as exc:  # e.g. low-order X25519 point -> all-zero secret is refused
        raise UnwrapError("key agreement failed (tampered wrapped key)") from exc
    kek = _kek(ss_pq, ss_x, ct_pq, eph_pk, public, context)
    try:
        return AESGCM(kek).decrypt(nonce, sealed, wrapped[:5])
    except InvalidTag:
        raise UnwrapError(
            "wrapped key failed authentication (wrong private key, wrong context or tampered)"
        ) from None
