"""Chunked AES-256-GCM envelope encryption (pure module, no Django).

One random 256-bit *data key* per stored object. The plaintext is cut into chunks of
``chunk_size`` bytes (1 MiB by default); every chunk is sealed with AES-256-GCM under its
own random 96-bit nonce. The associated data of every chunk binds:

* the whole header (magic, format version, chunk size, chunk count),
* the caller's ``object_id`` and ``kind`` (length-prefixed UTF-8) and object ``version``,
* the chunk index, the total chunk count and a final-chunk flag.

So a flipped bit anywhere, chunks swapped/reordered, a chunk dropped, the blob truncated
or extended, a header edit, or the blob replayed under another object/kind/version all
fail authentication, and the error names the chunk. Nothing is returned unless every
chunk authenticates.

Blob layout (big-endian)::

    header  = b"QMCE" | format_version:u8 (=1) | chunk_size:u32 | chunk_count:u32
    chunk_i = nonce:12 | ciphertext | tag:16       (i = 0 .. chunk_count-1)

Every chunk except the last carries exactly ``chunk_size`` plaintext bytes; the last
carries 1..chunk_size bytes, or 0 bytes when the plaintext is empty (an empty plaintext is
one empty chunk, so even it is authenticated and a wrong key is detected).

Random nonces: with a fresh key per object the number of GCM invocations per key is the
number of chunks of one object (at most 2**32 - 1), far below the 2**32 random-nonce bound
of NIST SP 800-38D for any realistic object.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "IntegrityError",
    "decrypt",
    "decrypt_chunks",
    "decrypt_stream",
    "encrypt",
    "encrypt_stream",
    "new_data_key",
    "overhead",
]

MAGIC = b"QMCE"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">4sBII")
HEADER_SIZE = _HEADER.size  # 13
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_SIZE = 32
DEFAULT_CHUNK_SIZE = 1 << 20
MAX_CHUNK_SIZE = 64 << 20  # bound on what a (not yet authenticated) header may ask for
MAX_CHUNKS = 0xFFFFFFFF
_AAD_LABEL = b"QMedChain envelope v1\x00"


class IntegrityError(Exception):
    """The ciphertext does not authenticate: tampered, truncated, reordered or wrong key.

    ``chunk_index`` is the 0-based index of the first chunk that failed (or is missing),
    or ``None`` when the problem is not tied to one chunk (bad header, trailing data).
    """

    def __init__(self, message: str, chunk_index: int | None = None) -> None:
        super().__init__(message)
        self.chunk_index = chunk_index
        self.message = message


def new_data_key() -> bytes:
    """A fresh random 256-bit data key."""
    return os.urandom(KEY_SIZE)


def overhead(plaintext_len: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Bytes the envelope adds to a plaintext of ``plaintext_len`` bytes."""
    return HEADER_SIZE + _chunk_count(plaintext_len, chunk_size) * (NONCE_SIZE + TAG_SIZE)


def _chunk_count(n: int, chunk_size: int) -> int:
    return max(1, -(-n // chunk_size))


def _check_key(key: bytes) -> AESGCM:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise ValueError("data key must be 32 bytes (AES-256)")
    return AESGCM(bytes(key))


def _lp(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack(">I", len(b)) + b


def _check_binding(object_id: str, kind: str, version: int) -> bytes:
    if not isinstance(object_id, str) or not object_id:
        raise ValueError("object_id must be a non-empty string")
    if not isinstance(kind, str) or not kind:
        raise ValueError("kind must be a non-empty string")
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < 1 << 64:
        raise ValueError("version must be an int in [0, 2**64)")
    return _lp(object_id) + _lp(kind) + struct.pack(">Q", version)


def _aad(header: bytes, binding: bytes, index: int, count: int) -> bytes:
    final = 1 if index == count - 1 else 0
    return _AAD_LABEL + header + binding + struct.pack(">IIB", index, count, final)


def _parse_header(header: bytes) -> tuple[int, int]:
    if len(header) < HEADER_SIZE:
        raise IntegrityError(f"ciphertext truncated: header is {len(header)} of {HEADER_SIZE} bytes", None)
    magic, fmt, chunk_size, count = _HEADER.unpack(header)
    if magic != MAGIC:
        raise IntegrityError("not a QMedChain envelope (bad magic)", None)
    if fmt != FORMAT_VERSION:
        raise IntegrityError(f"unsupported envelope format version {fmt}", None)
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise IntegrityError(f"invalid chunk size {chunk_size} in header", None)
    if count < 1:
        raise IntegrityError("invalid chunk count 0 in header", None)
    return chunk_size, count


# --------------------------------------------------------------------------- streaming


def encrypt_stream(
    fin: BinaryIO,
    fout: BinaryIO,
    key: bytes,
    *,
    object_id: str,
    kind: str,
    version: int = 1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    length: int | None = None,
) -> int:
    """Encrypt ``fin`` to ``fout``; returns the number of bytes written.

    The header carries the chunk count, so the plaintext length must be known first:
    pass ``length`` or give a seekable ``fin`` (its remaining length is measured).
    Memory use is one chunk.
    """
    aead = _check_key(key)
    binding = _check_binding(object_id, kind, version)
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be in [1, {MAX_CHUNK_SIZE}]")
    if length is None:
        pos = fin.tell()
        length = fin.seek(0, io.SEEK_END) - pos
        fin.seek(pos)
    count = _chunk_count(length, chunk_size)
    if count > MAX_CHUNKS:
        raise ValueError("plaintext too large for this chunk size")
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, chunk_size, count)
    fout.write(header)
    written = len(header)
    remaining = length
    for index in range(count):
        want = min(chunk_size, remaining)
        chunk = fin.read(want) if want else b""
        if len(chunk) != want:
            raise ValueError("input ended before the announced length")
        remaining -= want
        nonce = os.urandom(NONCE_SIZE)
        sealed = aead.encrypt(nonce, chunk, _aad(header, binding, index, count))
        fout.write(nonce)
        fout.write(sealed)
        written += NONCE_SIZE + len(sealed)
    return written


def decrypt_stream(
    fin: BinaryIO, fout: BinaryIO, key: bytes, *, object_id: str, kind: str, version: int = 1
) -> int:
    """Decrypt ``fin`` to ``fout`` chunk by chunk; returns plaintext bytes written.

    Raises :class:`IntegrityError` on the first chunk that fails. Chunks before it have
    already been written to ``fout``: on error the caller must discard the output
    (``decrypt`` does this for you).
    """
    total = 0
    for plain in decrypt_chunks(fin, key, object_id=object_id, kind=kind, version=version):
        fout.write(plain)
        total += len(plain)
    return total


def decrypt_chunks(
    fin: BinaryIO, key: bytes, *, object_id: str, kind: str, version: int = 1
) -> Iterator[bytes]:
    """The plaintext of ``fin``, one authenticated chunk at a time (memory: one chunk).

    Each chunk is authentic when it is yielded, but the whole is only known to be complete
    when the generator ends: :class:`IntegrityError` may still come after chunks were
    yielded (truncation, a bad later chunk), so a caller that hands chunks on must either
    have checked the whole ciphertext first (its recorded SHA-256) or be able to retract them.
    """
    aead = _check_key(key)
    binding = _check_binding(object_id, kind, version)
    header = fin.read(HEADER_SIZE)
    chunk_size, count = _parse_header(header)
    full = NONCE_SIZE + chunk_size + TAG_SIZE
    for index in range(count):
        rec = fin.read(full)
        last = index == count - 1
        if len(rec) < NONCE_SIZE + TAG_SIZE or (not last and len(rec) < full):
            state = "missing" if not rec else "incomplete"
            where = f"after chunk {index - 1}" if index else "before chunk 0"
            raise IntegrityError(
                f"ciphertext truncated {where} (header announces {count} chunks): chunk {index} {state}",
                index,
            )
        try:
            plain = aead.decrypt(rec[:NONCE_SIZE], rec[NONCE_SIZE:], _aad(header, binding, index, count))
        except InvalidTag:
            raise IntegrityError(
                f"chunk {index} of {count} failed authentication "
                "(tampered, reordered or wrong key/object binding)",
                index,
            ) from None
        yield plain
    if fin.read(1):
        raise IntegrityError(f"unexpected data after final chunk {count - 1}", None)


# --------------------------------------------------------------------------- bytes API


def encrypt(
    plaintext: bytes,
    key: bytes,
    *,
    object_id: str,
    kind: str,
    version: int = 1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> bytes:
    """Encrypt ``plaintext`` into a self-describing, chunk-authenticated envelope."""
    out = io.BytesIO()
    data = bytes(plaintext)
    encrypt_stream(
        io.BytesIO(data),
        out,
        key,
        object_id=object_id,
        kind=kind,
        version=version,
        chunk_size=chunk_size,
        length=len(data),
    )
    return out.getvalue()


def decrypt(blob: bytes, key: bytes, *, object_id: str, kind: str, version: int = 1) -> bytes:
    """Decrypt an envelope; raises :class:`IntegrityError` instead of returning garbage."""
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(bytes(blob)), out, key, object_id=object_id, kind=kind, version=version)
    return out.getvalue()
