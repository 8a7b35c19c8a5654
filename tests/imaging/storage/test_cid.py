"""CID computation and strict validation."""

import base64
import hashlib

import pytest

from imaging.storage import InvalidCID, cid_for, digest_of, validate_cid

EMPTY_RAW_CIDV1 = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def independent_cid(data: bytes) -> str:
    """CIDv1 by hand: multibase 'b' + base32(version 1, raw 0x55, sha2-256 0x12, len 0x20, digest)."""
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def test_known_cid_of_empty_content():
    # `ipfs add --cid-version=1 --raw-leaves` of an empty file prints this CID.
    assert cid_for(b"") == EMPTY_RAW_CIDV1


@pytest.mark.parametrize("data", [b"", b"a", b"hello world\n", bytes(range(256)) * 100])
def test_cid_matches_hand_encoding(data):
    assert cid_for(data) == independent_cid(data)
    assert digest_of(cid_for(data)) == hashlib.sha256(data).digest()


def test_valid_cid_passes():
    assert validate_cid(EMPTY_RAW_CIDV1) == EMPTY_RAW_CIDV1


BAD = [
    "",
    "../etc/passwd",
    "../../" + EMPTY_RAW_CIDV1,
    "/" + EMPTY_RAW_CIDV1,
    "/etc/passwd",
    EMPTY_RAW_CIDV1 + "/..",
    EMPTY_RAW_CIDV1 + "\n",
    EMPTY_RAW_CIDV1 + "\x00",
    EMPTY_RAW_CIDV1.upper(),  # base32 upper ("B...") is another multibase
    "z" + EMPTY_RAW_CIDV1[1:],  # wrong multibase prefix
    "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",  # CIDv0
    "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",  # dag-pb, not raw
    EMPTY_RAW_CIDV1[:-1],  # too short
    EMPTY_RAW_CIDV1[:-1] + "1",  # not base32 alphabet
    "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvykv",  # non-canonical padding bits
    None,
    b"bafkrei",
]


@pytest.mark.parametrize("bad", BAD)
def test_invalid_cids_rejected(bad):
    with pytest.raises(InvalidCID):
        validate_cid(bad)
    assert issubclass(InvalidCID, ValueError)


@pytest.mark.parametrize("size", [0, 1, 31, 32, 33, 1000, 1 << 20])
def test_fast_cid_equals_multiformats(size):
    from imaging.storage.base import reference_cid_for

    data = hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1)
    data = data[:size]
    assert cid_for(data) == reference_cid_for(data)
    assert digest_of(cid_for(data)) == hashlib.sha256(data).digest()


def test_validation_cache_never_caches_a_rejection():
    non_canonical = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvykv"  # passes the regex
    for _ in range(3):  # rejected by the round trip every time, cached or not
        with pytest.raises(InvalidCID):
            validate_cid(non_canonical)
    good = cid_for(b"x")
    assert validate_cid(good) == good == validate_cid(good)
    with pytest.raises(InvalidCID):
        validate_cid(good + "a")


def _multiformats_accepts(cid: str) -> bool:
    from multiformats import CID

    try:
        parsed = CID.decode(cid)
    except Exception:  # noqa: BLE001 - multiformats raises several error types
        return False
    return (
        parsed.version == 1
        and parsed.codec.code == 0x55
        and parsed.hashfun.code == 0x12
        and len(parsed.raw_digest) == 32
        and str(parsed) == cid
    )


def test_validation_agrees_with_multiformats_on_every_last_character():
    """The stdlib round trip accepts exactly what multiformats accepts as canonical, over all
    32 base32 letters in the last position (which carries the padding bits) of many CIDs."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    checked = accepted = 0
    for n in range(12):
        good = cid_for(str(n).encode())
        for ch in alphabet:
            candidate = good[:-1] + ch
            ours = True
            try:
                validate_cid(candidate)
            except InvalidCID:
                ours = False
            assert ours == _multiformats_accepts(candidate), candidate
            checked += 1
            accepted += ours
    # the last letter holds the digest's last 3 bits and 2 padding bits: 8 of 32 are canonical
    assert checked == 12 * 32 and accepted == 12 * 8
