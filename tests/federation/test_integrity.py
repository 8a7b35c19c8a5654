"""federation.integrity.check_ciphertext: the bytes a peer sent are the object it named."""

import hashlib

import pytest

from federation.integrity import SINGLE_BLOCK_MAX, CiphertextMismatch, check_ciphertext, expected_facts
from imaging.storage import cid_for

BLOB = b"QMCE ciphertext bytes" * 10


def test_the_named_object_passes():
    assert check_ciphertext(BLOB, sha256_hex=hashlib.sha256(BLOB).hexdigest(), cid=cid_for(BLOB)) == (
        hashlib.sha256(BLOB).hexdigest()
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sha256_hex": hashlib.sha256(b"x").hexdigest()}, "does not match its SHA-256"),
        ({"cid": cid_for(b"x")}, "does not match its CID"),
        ({"cid": "../../etc/passwd"}, "not a CIDv1"),
        ({"size": len(BLOB) + 1}, "not the 211 announced"),
    ],
)
def test_anything_else_is_refused(kwargs, message):
    args = {"sha256_hex": hashlib.sha256(BLOB).hexdigest(), "cid": cid_for(BLOB), **kwargs}
    with pytest.raises(CiphertextMismatch, match=message):
        check_ciphertext(BLOB, **args)


def test_an_object_larger_than_a_block_may_be_named_by_its_manifest():
    big = b"\x01" * (SINGLE_BLOCK_MAX + 1)
    manifest_cid = cid_for(b"QMCM\x01\n{...}")
    assert check_ciphertext(big, sha256_hex=hashlib.sha256(big).hexdigest(), cid=manifest_cid)
    with pytest.raises(CiphertextMismatch):
        check_ciphertext(big, sha256_hex=hashlib.sha256(b"x").hexdigest(), cid=manifest_cid)


def test_each_kind_is_vouched_for_by_its_own_registration_facts():
    assert expected_facts(scan_id="s", kind="preview", sha256_hex="h", cid="c") == {
        "scan_id": "s",
        "derived_sha256": "h",
        "derived_cid": "c",
    }
    assert set(expected_facts(scan_id="s", kind="original", sha256_hex="h", cid="c")) == {
        "scan_id",
        "ciphertext_sha256",
        "ciphertext_cid",
    }
    with pytest.raises(ValueError):
        expected_facts(scan_id="s", kind="thumbnail", sha256_hex="h", cid="c")
