import pytest

from crypto.sealing import SealError, seal_with, unseal_with

KEY = bytes(range(32))


def test_round_trip_binds_the_context():
    blob = seal_with(KEY, b"private key", context="ledger.falcon512:k1")
    assert unseal_with(KEY, blob, context="ledger.falcon512:k1") == b"private key"
    with pytest.raises(SealError):
        unseal_with(KEY, blob, context="ledger.falcon512:k2")  # moved to another purpose


def test_wrong_key_tampering_and_truncation_are_refused():
    blob = seal_with(KEY, b"secret", context="c")
    with pytest.raises(SealError):
        unseal_with(bytes(32), blob, context="c")
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(SealError):
        unseal_with(KEY, flipped, context="c")
    with pytest.raises(SealError):
        unseal_with(KEY, blob[:20], context="c")


def test_each_seal_uses_a_fresh_nonce():
    assert seal_with(KEY, b"x", context="c") != seal_with(KEY, b"x", context="c")
