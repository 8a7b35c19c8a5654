"""imaging.neqr_layer: the optional SIMULATED NEQR layer on derived objects (pure module)."""

from __future__ import annotations

import json
import struct

import cv2
import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from crypto import envelope
from imaging import neqr_layer, preprocess
from imaging.neqr_layer import NeqrLayerError
from quantum import neqr

KEY = bytes(range(32))
OID = "6f1c0e5e-1d2b-5c43-9a1e-2b7f3c4d5e6f"


def matrix_bytes(seed: int) -> bytes:
    return preprocess.canonical_bytes(np.random.default_rng(seed).random((128, 128), dtype=np.float32))


def gray(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (np.sin(xx / 17.0) + np.cos(yy / 23.0) + 2) / 4 + rng.normal(0, 0.03, (h, w))
    return np.clip(base * 255, 0, 255).astype(np.uint8)


def png_of(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.dtype == np.uint8 and img.ndim == 2
    return img


def grams(data: bytes, n: int) -> set[bytes]:
    return {data[i : i + n] for i in range(len(data) - n + 1)}


@pytest.fixture(scope="module")
def layered_matrix():
    plain = matrix_bytes(1)
    return plain, neqr_layer.apply("matrix", plain, KEY, object_id=OID)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matrix_round_trip_is_bit_exact(seed):
    plain = matrix_bytes(seed)
    key = envelope.new_data_key()
    layered = neqr_layer.apply("matrix", plain, key, object_id=f"obj-{seed}")
    assert neqr_layer.is_layered(layered)
    back = neqr_layer.open(layered, key, object_id=f"obj-{seed}")
    assert back == plain and len(back) == preprocess.CANONICAL_BYTES
    assert neqr_layer.describe(layered)["side"] == 256  # 65,536 bytes = one 256 x 256 image


def test_matrix_round_trip_keeps_any_float32_bits():
    """Not only [0, 1]: NaN payloads, infinities, negative zero come back bit for bit."""
    raw = np.random.default_rng(9).integers(0, 256, preprocess.CANONICAL_BYTES, dtype=np.uint8).tobytes()
    special = struct.pack("<4f", float("nan"), float("inf"), -0.0, -1e-40)
    plain = special + raw[len(special) :]
    assert neqr_layer.open(neqr_layer.apply("matrix", plain, KEY, object_id=OID), KEY, object_id=OID) == plain


@pytest.mark.parametrize("length,side", [(0, 2), (1, 2), (4, 2), (5, 4), (1000, 32), (4097, 128)])
def test_general_byte_lengths_pad_to_a_square_power_of_two(length, side):
    plain = np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8).tobytes()
    layered = neqr_layer.apply("matrix", plain, KEY, object_id=OID)
    assert neqr_layer.describe(layered)["side"] == side
    assert neqr_layer.describe(layered)["original_size"] == length
    assert neqr_layer.open(layered, KEY, object_id=OID) == plain


def test_matrix_size_is_bounded():
    with pytest.raises(ValueError, match="at most"):
        neqr_layer.apply("matrix", bytes(neqr_layer.MAX_MATRIX_BYTES + 1), KEY, object_id=OID)


def test_small_preview_round_trip_is_pixel_exact():
    img = gray(300, 200, seed=3)  # no downscale below 512 px
    layered = neqr_layer.apply("preview", png_of(img), KEY, object_id=OID)
    back = neqr_layer.open(layered, KEY, object_id=OID)
    assert np.array_equal(decode_png(back), img)
    d = neqr_layer.describe(layered)
    assert d["image"] == [300, 200] and d["source"] == [300, 200] and d["side"] == 512


def test_large_preview_is_downscaled_to_512_and_round_trips_those_pixels():
    img = gray(1024, 700, seed=4)
    plain = preprocess.to_png(img / 255.0, max_side=preprocess.PREVIEW_MAX_SIDE)  # as the pipeline renders
    assert decode_png(plain).shape == (1024, 700)
    layered = neqr_layer.apply("preview", plain, KEY, object_id=OID)
    expected = cv2.resize(decode_png(plain), (350, 512), interpolation=cv2.INTER_AREA)
    back = decode_png(neqr_layer.open(layered, KEY, object_id=OID))
    assert back.shape == (512, 350) and np.array_equal(back, expected)
    d = neqr_layer.describe(layered)
    assert d == {
        "simulated": True,
        "scheme": neqr.SCHEME,
        "kind": "preview",
        "side": 512,
        "image": [512, 350],
        "source": [1024, 700],
        "original_size": len(plain),
        "path": "classical, proven identical to the circuit",
        "map": "cml4-pwlcm",
    }


def test_encryption_is_deterministic_per_object_and_differs_between_objects():
    plain = matrix_bytes(5)
    a = neqr_layer.apply("matrix", plain, KEY, object_id=OID)
    assert a == neqr_layer.apply("matrix", plain, KEY, object_id=OID)
    b = neqr_layer.apply("matrix", plain, KEY, object_id=OID + "x")
    c = neqr_layer.apply("matrix", plain, envelope.new_data_key(), object_id=OID)
    assert a != b and a != c
    cipher = {name: decode_png(neqr_layer.cipher_image_png(x)) for name, x in (("a", a), ("b", b), ("c", c))}
    # another object id or data key gives another NEQR key: a wholly different cipher image
    assert neqr.npcr_uaci(cipher["a"], cipher["b"])[0] > 99.0
    assert neqr.npcr_uaci(cipher["a"], cipher["c"])[0] > 99.0


def test_key_is_hkdf_of_the_data_key_and_object_id():
    expected = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"qmedchain neqr layer v1|" + OID.encode()
    ).derive(KEY)
    assert neqr_layer.neqr_key_for(KEY, OID) == neqr.NeqrKey(expected)
    with pytest.raises(ValueError):
        neqr_layer.neqr_key_for(b"short", OID)


# ---------------------------------------------------------------- it really is a cipher


def test_layered_matrix_differs_and_holds_no_run_of_the_plaintext(layered_matrix):
    plain, layered = layered_matrix
    assert layered != plain and plain not in layered
    assert not grams(plain, 8) & grams(layered, 8)
    d = neqr_layer.describe(layered)
    cipher = decode_png(neqr_layer.cipher_image_png(layered))
    assert cipher.shape == (d["side"], d["side"])
    assert neqr.entropy(cipher) > 7.99  # looks uniform


def test_layered_preview_holds_no_run_of_the_pixels_nor_the_png():
    img = gray(256, 256, seed=6)
    plain = png_of(img)
    layered = neqr_layer.apply("preview", plain, KEY, object_id=OID)
    assert not grams(img.tobytes(), 12) & grams(layered, 12)
    assert not grams(plain, 12) & grams(layered, 12)
    assert not layered.startswith(b"\x89PNG")


def test_cipher_image_png_needs_no_key_and_is_the_cipher(layered_matrix):
    _, layered = layered_matrix
    png = neqr_layer.cipher_image_png(layered)
    cipher = decode_png(png)
    start = len(layered) - 32 - 256 * 256
    assert cipher.tobytes() == layered[start:-32]


# ---------------------------------------------------------------- refusals


def test_wrong_data_key_is_refused(layered_matrix):
    _, layered = layered_matrix
    with pytest.raises(NeqrLayerError, match="wrong key"):
        neqr_layer.open(layered, envelope.new_data_key(), object_id=OID)


def test_wrong_object_id_is_refused(layered_matrix):
    _, layered = layered_matrix
    with pytest.raises(NeqrLayerError, match="wrong key"):
        neqr_layer.open(layered, KEY, object_id=OID.replace("6f1c", "6f1d"))


def test_every_flipped_header_byte_is_refused(layered_matrix):
    _, layered = layered_matrix
    hlen = struct.unpack(">I", layered[16:20])[0]
    for i in range(0, 20 + hlen):
        bad = bytearray(layered)
        bad[i] ^= 0x01
        with pytest.raises(NeqrLayerError):
            neqr_layer.open(bytes(bad), KEY, object_id=OID)


@pytest.mark.parametrize("where", [0, 1, 12345, 65535])
def test_a_flipped_cipher_pixel_is_detected_by_the_container_tag(layered_matrix, where):
    _, layered = layered_matrix
    start = len(layered) - 32 - 65536
    bad = bytearray(layered)
    bad[start + where] ^= 0x80
    with pytest.raises(NeqrLayerError, match="altered"):
        neqr_layer.open(bytes(bad), KEY, object_id=OID)


def test_neqr_alone_does_not_detect_a_flipped_pixel_the_tag_and_aes_gcm_do(layered_matrix):
    """NEQR is not authenticated: decrypting a changed cipher image gives other pixels and no
    error. The layer's HMAC tag (above) and, upstream, AES-256-GCM catch the change."""
    plain, layered = layered_matrix
    start = len(layered) - 32 - 65536
    cipher = np.frombuffer(layered[start:-32], np.uint8).reshape(256, 256).copy()
    meta = neqr_layer.describe(layered)
    assert meta["side"] == 256
    key = neqr_layer.neqr_key_for(KEY, OID)
    nmeta = json.loads(layered[20:start].decode())["neqr"]
    ok, _ = neqr.decrypt_image(cipher, nmeta, key, force_classical=True)
    assert ok.tobytes() == plain
    cipher[100, 100] ^= 1
    garbled, _ = neqr.decrypt_image(cipher, nmeta, key, force_classical=True)  # no error
    assert garbled.tobytes() != plain
    # the AES-256-GCM envelope the pipeline puts around the layered bytes
    blob = bytearray(envelope.encrypt(layered, KEY, object_id=OID, kind="matrix", version=1))
    blob[envelope.HEADER_SIZE + 12 + start + 5] ^= 1
    with pytest.raises(envelope.IntegrityError):
        envelope.decrypt(bytes(blob), KEY, object_id=OID, kind="matrix", version=1)


def test_flipped_tag_truncation_and_extension_are_refused(layered_matrix):
    _, layered = layered_matrix
    bad = bytearray(layered)
    bad[-1] ^= 1
    for data in (bytes(bad), layered[:-1], layered + b"\x00", layered[:40], neqr_layer.MAGIC):
        with pytest.raises(NeqrLayerError):
            neqr_layer.open(data, KEY, object_id=OID)
    with pytest.raises(NeqrLayerError):
        neqr_layer.cipher_image_png(layered[:-1])


def test_plain_objects_are_not_opened():
    with pytest.raises(NeqrLayerError, match="not a NEQR-layered"):
        neqr_layer.open(matrix_bytes(0), KEY, object_id=OID)
    with pytest.raises(NeqrLayerError):
        neqr_layer.describe(png_of(gray(8, 8)))


@pytest.mark.parametrize("kind", ["original", "", "PREVIEW", "matrix ", None])
def test_other_kinds_are_refused(kind):
    with pytest.raises(ValueError, match="preview and matrix"):
        neqr_layer.apply(kind, matrix_bytes(0), KEY, object_id=OID)


def test_preview_must_be_an_8bit_grayscale_png():
    rgb = np.zeros((16, 16, 3), np.uint8)
    deep = np.zeros((16, 16), np.uint16)
    ok, jpeg = cv2.imencode(".jpg", gray(16, 16))
    for data in (png_of(rgb), png_of(deep), jpeg.tobytes(), b"\x89PNG\r\n\x1a\nnot really", b""):
        with pytest.raises(ValueError):
            neqr_layer.apply("preview", data, KEY, object_id=OID)


def test_already_layered_is_refused(layered_matrix):
    _, layered = layered_matrix
    with pytest.raises(ValueError, match="already"):
        neqr_layer.apply("matrix", layered[:1000], KEY, object_id=OID)


# ---------------------------------------------------------------- is_layered never misfires


def test_magic_is_not_a_png_nor_a_float_in_unit_interval():
    assert len(neqr_layer.MAGIC) == 16
    assert not neqr_layer.MAGIC.startswith(b"\x89PNG")
    (first,) = struct.unpack("<f", neqr_layer.MAGIC[:4])
    assert not 0.0 <= first <= 1.0


@pytest.mark.parametrize("shape", [(1, 1), (64, 64), (300, 200), (1024, 1024)])
def test_is_layered_false_for_real_pngs(shape):
    assert not neqr_layer.is_layered(png_of(gray(*shape)))
    assert not neqr_layer.is_layered(preprocess.render_preview(gray(*shape) / 255.0))


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.integers(1, 64),
        elements=st.floats(0.0, 1.0, width=32, allow_subnormal=True),
    ),
    st.binary(max_size=32),
)
def test_is_layered_false_for_matrix_bytes_in_unit_interval(values, tail):
    data = values.astype("<f4").tobytes() + tail
    assert not neqr_layer.is_layered(data)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float32, (128, 128), elements=st.floats(0.0, 1.0, width=32)))
def test_is_layered_false_for_whole_canonical_matrices(m):
    assert not neqr_layer.is_layered(preprocess.canonical_bytes(m))
