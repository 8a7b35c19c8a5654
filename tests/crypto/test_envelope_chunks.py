"""`envelope.decrypt_chunks`: the plaintext one authenticated chunk at a time, the same bytes
as `decrypt`, and a failure still raised for a damaged later chunk."""

from __future__ import annotations

import io

import pytest

from crypto import envelope


def test_chunks_join_to_the_plaintext_and_come_one_at_a_time():
    key, data = envelope.new_data_key(), bytes(range(256)) * 40
    blob = envelope.encrypt(data, key, object_id="o", kind="original", chunk_size=1000)
    chunks = list(envelope.decrypt_chunks(io.BytesIO(blob), key, object_id="o", kind="original"))
    assert b"".join(chunks) == data == envelope.decrypt(blob, key, object_id="o", kind="original")
    assert [len(c) for c in chunks] == [1000] * 10 + [240]


def test_a_damaged_later_chunk_fails_after_the_good_ones():
    key, data = envelope.new_data_key(), b"x" * 3000
    blob = bytearray(envelope.encrypt(data, key, object_id="o", kind="original", chunk_size=1000))
    blob[-5] ^= 1
    chunks = envelope.decrypt_chunks(io.BytesIO(bytes(blob)), key, object_id="o", kind="original")
    assert next(chunks) == b"x" * 1000
    with pytest.raises(envelope.IntegrityError) as failed:
        list(chunks)
    assert failed.value.chunk_index == 2
