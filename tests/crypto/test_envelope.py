"""Envelope encryption: round trips and every tamper case names the right chunk."""

import io
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import envelope as env
from crypto.envelope import IntegrityError, decrypt, encrypt, new_data_key

MIB = 1 << 20
BIND = {"object_id": "scan-42", "kind": "original", "version": 3}
CS = 64  # small chunk size for the layout-level tamper tests
REC = env.NONCE_SIZE + CS + env.TAG_SIZE


def chunk_span(i: int) -> slice:
    start = env.HEADER_SIZE + i * REC
    return slice(start, start + REC)


@pytest.fixture
def key() -> bytes:
    return new_data_key()


def test_new_data_key_is_32_random_bytes():
    a, b = new_data_key(), new_data_key()
    assert len(a) == 32 and a != b


@pytest.mark.parametrize("size", [0, 1, MIB - 1, MIB, MIB + 1, MIB * 5 // 2])
def test_round_trip_default_chunking(key, size):
    data = os.urandom(size)
    blob = encrypt(data, key, **BIND)
    chunks = max(1, -(-size // MIB))
    assert len(blob) == size + env.overhead(size) == size + env.HEADER_SIZE + chunks * 28
    magic, fmt, chunk_size, count = struct.unpack(">4sBII", blob[: env.HEADER_SIZE])
    assert (magic, fmt, chunk_size, count) == (b"QMCE", 1, MIB, chunks)
    assert decrypt(blob, key, **BIND) == data


def test_same_plaintext_encrypts_differently(key):
    assert encrypt(b"abc", key, **BIND) != encrypt(b"abc", key, **BIND)


def test_stream_round_trip(key):
    data = os.urandom(3 * CS + 5)
    out = io.BytesIO()
    n = env.encrypt_stream(io.BytesIO(data), out, key, chunk_size=CS, **BIND)
    assert n == len(out.getvalue())
    back = io.BytesIO()
    assert env.decrypt_stream(io.BytesIO(out.getvalue()), back, key, **BIND) == len(data)
    assert back.getvalue() == data


@pytest.fixture
def five(key):
    """5 full chunks (last one full) and 5 chunks with a short last chunk."""
    data = os.urandom(5 * CS)
    return data, encrypt(data, key, chunk_size=CS, **BIND)


def test_bit_flip_in_every_chunk_names_it(key, five):
    data, blob = five
    for i in range(5):
        span = chunk_span(i)
        for pos in (span.start, span.start + 12, span.stop - 1):  # nonce, ciphertext, tag
            bad = bytearray(blob)
            bad[pos] ^= 0x01
            with pytest.raises(IntegrityError) as ei:
                decrypt(bytes(bad), key, **BIND)
            assert ei.value.chunk_index == i
            assert f"chunk {i}" in str(ei.value)


def test_every_single_bit_flip_is_detected_small(key):
    blob = encrypt(b"hello world", key, chunk_size=4, **BIND)
    for pos in range(len(blob)):
        for bit in range(8):
            bad = bytearray(blob)
            bad[pos] ^= 1 << bit
            with pytest.raises(IntegrityError):
                decrypt(bytes(bad), key, **BIND)


def test_swapped_chunks_detected_at_first(key, five):
    _, blob = five
    bad = bytearray(blob)
    bad[chunk_span(1)], bad[chunk_span(3)] = blob[chunk_span(3)], blob[chunk_span(1)]
    with pytest.raises(IntegrityError) as ei:
        decrypt(bytes(bad), key, **BIND)
    assert ei.value.chunk_index == 1


def test_dropped_last_chunk(key, five):
    _, blob = five
    with pytest.raises(IntegrityError) as ei:
        decrypt(blob[: chunk_span(4).start], key, **BIND)
    assert ei.value.chunk_index == 4
    assert "truncated after chunk 3" in str(ei.value)


def test_dropped_last_chunk_with_header_rewritten(key, five):
    """Attacker also fixes the chunk count: chunk 0's AAD no longer matches."""
    _, blob = five
    hdr = struct.pack(">4sBII", b"QMCE", 1, CS, 4)
    with pytest.raises(IntegrityError) as ei:
        decrypt(hdr + blob[env.HEADER_SIZE : chunk_span(4).start], key, **BIND)
    assert ei.value.chunk_index == 0


def test_dropped_middle_chunk(key, five):
    _, blob = five
    bad = blob[: chunk_span(2).start] + blob[chunk_span(3).start :]
    with pytest.raises(IntegrityError) as ei:
        decrypt(bad, key, **BIND)
    assert ei.value.chunk_index == 2


def test_truncated_inside_last_chunk(key):
    data = os.urandom(3 * CS + 10)
    blob = encrypt(data, key, chunk_size=CS, **BIND)
    with pytest.raises(IntegrityError) as ei:
        decrypt(blob[:-1], key, **BIND)
    assert ei.value.chunk_index == 3


@pytest.mark.parametrize("cut", [0, 1, 4, env.HEADER_SIZE - 1])
def test_truncated_header(key, five, cut):
    _, blob = five
    with pytest.raises(IntegrityError) as ei:
        decrypt(blob[:cut], key, **BIND)
    assert ei.value.chunk_index is None
    assert "header" in str(ei.value)


def test_header_only(key, five):
    _, blob = five
    with pytest.raises(IntegrityError) as ei:
        decrypt(blob[: env.HEADER_SIZE], key, **BIND)
    assert ei.value.chunk_index == 0


@pytest.mark.parametrize("garbage", [b"\x00", os.urandom(REC), os.urandom(3)])
def test_appended_garbage(key, five, garbage):
    _, blob = five
    with pytest.raises(IntegrityError, match="after final chunk 4"):
        decrypt(blob + garbage, key, **BIND)


def test_appended_garbage_after_short_last_chunk(key):
    blob = encrypt(os.urandom(2 * CS + 3), key, chunk_size=CS, **BIND)
    with pytest.raises(IntegrityError) as ei:
        decrypt(blob + b"x", key, **BIND)
    assert ei.value.chunk_index == 2


def test_extension_with_extra_chunk_and_count(key, five):
    """Append a real chunk from another encryption and bump the count: chunk 0 fails."""
    data, blob = five
    other = encrypt(data + data[:CS], key, chunk_size=CS, **BIND)
    bad = other[: env.HEADER_SIZE] + blob[env.HEADER_SIZE :] + other[chunk_span(5)]
    with pytest.raises(IntegrityError) as ei:
        decrypt(bad, key, **BIND)
    assert ei.value.chunk_index == 0


@pytest.mark.parametrize(
    "change",
    [
        {"object_id": "scan-43"},
        {"kind": "preview"},
        {"version": 4},
        {"object_id": "scan-4", "kind": "2original"},
    ],
)
def test_wrong_binding(key, five, change):
    _, blob = five
    with pytest.raises(IntegrityError) as ei:
        decrypt(blob, key, **{**BIND, **change})
    assert ei.value.chunk_index == 0


def test_wrong_key(key, five):
    _, blob = five
    with pytest.raises(IntegrityError) as ei:
        decrypt(blob, new_data_key(), **BIND)
    assert ei.value.chunk_index == 0


def test_empty_plaintext_wrong_key_detected(key):
    blob = encrypt(b"", key, **BIND)
    assert decrypt(blob, key, **BIND) == b""
    with pytest.raises(IntegrityError):
        decrypt(blob, new_data_key(), **BIND)


@pytest.mark.parametrize(
    "header",
    [
        struct.pack(">4sBII", b"XXXX", 1, CS, 5),
        struct.pack(">4sBII", b"QMCE", 2, CS, 5),
        struct.pack(">4sBII", b"QMCE", 1, 0, 5),
        struct.pack(">4sBII", b"QMCE", 1, CS, 0),
        struct.pack(">4sBII", b"QMCE", 1, 1 << 30, 5),
    ],
)
def test_bad_headers(key, five, header):
    _, blob = five
    with pytest.raises(IntegrityError):
        decrypt(header + blob[env.HEADER_SIZE :], key, **BIND)


def test_chunk_size_change_in_header(key, five):
    _, blob = five
    hdr = struct.pack(">4sBII", b"QMCE", 1, CS * 5, 1)
    with pytest.raises(IntegrityError):
        decrypt(hdr + blob[env.HEADER_SIZE :], key, **BIND)


def test_bad_arguments(key):
    with pytest.raises(ValueError):
        encrypt(b"x", b"short", **BIND)
    with pytest.raises(ValueError):
        encrypt(b"x", key, object_id="", kind="k")
    with pytest.raises(ValueError):
        encrypt(b"x", key, chunk_size=0, **BIND)
    with pytest.raises(ValueError):
        decrypt(b"x", b"\x00" * 16, **BIND)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), flips=st.lists(st.integers(min_value=0), min_size=1, max_size=4))
def test_random_bit_flips_never_decrypt(data, flips):
    key = bytes(32)
    blob = bytearray(encrypt(data, key, chunk_size=32, **BIND))
    positions = {f % (len(blob) * 8) for f in flips}
    for p in positions:
        blob[p // 8] ^= 1 << (p % 8)
    with pytest.raises(IntegrityError):
        decrypt(bytes(blob), key, **BIND)
