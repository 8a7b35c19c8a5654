"""Stage 3 (`imaging.pipeline.seal`): pure encryption, bound to the object it seals."""

import hashlib
import uuid

import pytest

from crypto import envelope
from imaging.pipeline.seal import seal, seal_all
from imaging.pipeline.status import derived_object_id
from imaging.storage import cid_for

SCAN = uuid.UUID("00000000-0000-4000-8000-000000000001")


def test_each_derived_object_is_sealed_under_its_own_key_and_id():
    sealed = seal_all(SCAN, {"preview": b"png bytes", "matrix": b"m" * 64}, neqr_layer=False)
    assert set(sealed) == {"preview", "matrix"}
    assert sealed["preview"].key != sealed["matrix"].key
    for kind, obj in sealed.items():
        assert obj.object_id == derived_object_id(SCAN, kind)
        assert obj.cid == cid_for(obj.ciphertext)
        assert obj.ciphertext_sha256 == hashlib.sha256(obj.ciphertext).hexdigest()
        plain = envelope.decrypt(obj.ciphertext, obj.key, object_id=str(obj.object_id), kind=kind, version=1)
        assert len(plain) == obj.plaintext_size


def test_a_ciphertext_does_not_open_as_another_object():
    obj = seal(SCAN, "preview", b"png bytes", neqr_layer=False)
    with pytest.raises(envelope.IntegrityError):
        envelope.decrypt(obj.ciphertext, obj.key, object_id=str(obj.object_id), kind="matrix", version=1)


def test_resealing_under_the_same_key_gives_a_new_ciphertext():
    first = seal(SCAN, "matrix", b"m" * 64, neqr_layer=False)
    again = seal(SCAN, "matrix", b"m" * 64, neqr_layer=False, key=first.key)
    assert again.key == first.key and again.cid != first.cid  # a fresh nonce
