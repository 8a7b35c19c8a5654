"""Hybrid ML-KEM-768 + X25519 key wrapping."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import hybrid_kem as hk
from crypto.envelope import new_data_key
from crypto.hybrid_kem import UnwrapError, generate_keypair, key_fingerprint, unwrap, wrap

CTX = b"scan:42/original/v1 reader:7"


@pytest.fixture(scope="module")
def alice():
    return generate_keypair()


@pytest.fixture(scope="module")
def bob():
    return generate_keypair()


@pytest.fixture(scope="module")
def wrapped(alice):
    dk = new_data_key()
    return dk, wrap(alice[0], dk, context=CTX)


def test_key_sizes_and_format(alice):
    pk, sk = alice
    assert len(pk) == hk.PUBLIC_KEY_SIZE == 1221 and pk[:5] == b"QMKP\x01"
    assert len(sk) == hk.PRIVATE_KEY_SIZE and sk[:5] == b"QMKS\x01"
    assert hk.public_key_from_private(sk) == pk


def test_round_trip(alice, wrapped):
    dk, w = wrapped
    assert w[:5] == b"QMKW\x01" and len(w) == 5 + 1088 + 32 + 12 + 32 + 16
    assert unwrap(alice[1], w, context=CTX) == dk


def test_wrapping_is_randomised(alice):
    dk = new_data_key()
    a, b = wrap(alice[0], dk, context=CTX), wrap(alice[0], dk, context=CTX)
    assert a != b
    assert unwrap(alice[1], a, context=CTX) == unwrap(alice[1], b, context=CTX) == dk


def test_wrong_private_key_fails(bob, wrapped):
    # ML-KEM implicit rejection returns a random secret; the AES-GCM tag catches it.
    with pytest.raises(UnwrapError, match="failed authentication"):
        unwrap(bob[1], wrapped[1], context=CTX)


def test_wrong_context_fails(alice, wrapped):
    for ctx in (b"", CTX + b"x", CTX[:-1], b"scan:43/original/v1 reader:7"):
        with pytest.raises(UnwrapError):
            unwrap(alice[1], wrapped[1], context=ctx)


REGIONS = {
    "magic": (0, 4),
    "version": (4, 5),
    "mlkem_ct": (5, 5 + 1088),
    "x25519_eph": (5 + 1088, 5 + 1088 + 32),
    "nonce": (5 + 1120, 5 + 1120 + 12),
    "aead_ct": (5 + 1132, 5 + 1132 + 32),
    "tag": (5 + 1164, 5 + 1164 + 16),
}


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_tampered_fails(alice, wrapped, region):
    start, stop = REGIONS[region]
    w = wrapped[1]
    for pos in {start, (start + stop) // 2, stop - 1}:
        bad = bytearray(w)
        bad[pos] ^= 0x80
        with pytest.raises(UnwrapError):
            unwrap(alice[1], bytes(bad), context=CTX)


def test_truncated_and_extended_fail(alice, wrapped):
    w = wrapped[1]
    for bad in (w[:-1], w[:100], b"", w + b"\x00"):
        with pytest.raises(UnwrapError):
            unwrap(alice[1], bad, context=CTX)


def test_private_key_of_other_recipient_with_swapped_public_part_fails(alice, bob, wrapped):
    """Splicing bob's secret parts with alice's public key still fails (no key confusion)."""
    sk = bob[1][: -hk.PUBLIC_KEY_SIZE] + alice[0]
    with pytest.raises(UnwrapError):
        unwrap(sk, wrapped[1], context=CTX)


def test_fingerprint(alice, bob):
    fa = key_fingerprint(alice[0])
    assert len(fa) == 32 and int(fa, 16) >= 0
    assert fa == key_fingerprint(alice[0]) != key_fingerprint(bob[0])


def test_bad_inputs(alice):
    with pytest.raises(ValueError):
        wrap(b"\x00" * 10, new_data_key(), context=CTX)
    with pytest.raises(ValueError):
        wrap(alice[0], b"", context=CTX)
    with pytest.raises(TypeError):
        wrap(alice[0], new_data_key(), context="str")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        unwrap(alice[0], b"x", context=CTX)  # a public key is not a private key
    with pytest.raises(ValueError):
        key_fingerprint(alice[1])


@settings(max_examples=150, deadline=None)
@given(flips=st.lists(st.integers(min_value=0, max_value=1185 * 8 - 1), min_size=1, max_size=3, unique=True))
def test_random_bit_flips_never_unwrap(alice, wrapped, flips):
    bad = bytearray(wrapped[1])
    for p in flips:
        bad[p // 8] ^= 1 << (p % 8)
    with pytest.raises(UnwrapError):
        unwrap(alice[1], bytes(bad), context=CTX)
