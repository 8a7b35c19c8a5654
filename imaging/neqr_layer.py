"""Optional SIMULATED NEQR quantum-image-cipher layer on derived objects (pure module, no Django).

What it is, plainly: a demonstration of the simulated NEQR image cipher (`quantum.neqr`,
a classical simulation of a quantum circuit) on real derived data. When a scan is uploaded
with ``neqr_layer`` the pipeline passes each derived object's plaintext through `apply`
right before AES-256-GCM, and `imaging.pipeline.read_object` calls `open` right after
AES-256-GCM decryption. **AES-256-GCM remains the only protection**: the NEQR key of an
object is derived from that object's AES data key, so whoever can unwrap the data key can
remove the layer, and nobody else can even see it. The layer adds no access control and no
confidentiality beyond AES-256-GCM, and no key needs storing.

Key derivation::

    neqr_key = HKDF-SHA256(ikm=data_key, salt=None,
                           info=b"qmedchain neqr layer v1|" + object_id, length=32)
    mac_key  = HKDF-SHA256(ikm=data_key, salt=None,
                           info=b"qmedchain neqr layer v1 mac|" + object_id, length=32)

Kinds:

* ``preview`` (an 8-bit grayscale PNG): decoded, downscaled with ``cv2.INTER_AREA`` so the
  long side is at most `NEQR_PREVIEW_MAX_SIDE` (512; a cost bound: the classical path of a
  512 x 512 NEQR takes ~0.33 s each way, a 1024 x 1024 one would take ~1.3 s), then
  NEQR-encrypted. `open` returns an 8-bit grayscale PNG of the decrypted (downscaled)
  pixels, so callers still receive a PNG; **a layered preview is at most 512 px**.
* ``matrix`` (any bytes; in practice the 65,536 canonical float32 bytes): the bytes are laid
  out row-major in the smallest 2^n x 2^n 8-bit image that holds them (zero-padded; 256 x 256
  for the matrix), NEQR-encrypted; `open` returns exactly the original bytes (the length is
  in the header). At most `MAX_MATRIX_BYTES` (512 x 512) bytes, the same cost bound.

The NEQR stage always takes the classical path (`force_classical=True`), which applies the
circuit's gate list to pixel indices and bit values and is proven identical to the qiskit-aer
circuit by ``tests/quantum/test_neqr.py``; the circuit itself is only run up to 32 x 32.

Container (all integers big-endian)::

    MAGIC (16 bytes, b"NEQR-QMC-LAYER1\\n")
    header_len: u32 | header: canonical JSON (sorted keys, no spaces), UTF-8
    cipher: side * side bytes (the NEQR cipher image, row-major)
    tag: 32 bytes = HMAC-SHA256(mac_key, everything before the tag)

The header holds ``v`` (1), ``kind``, ``neqr`` (the ``meta`` of `quantum.neqr.encrypt_image`:
scheme, height, width, side, map, key check value), ``length`` (original byte length),
``image`` ([height, width] encrypted) and, for previews, ``source`` ([height, width] of the
PNG before the downscale).

Why the magic can never be mistaken for a derived plaintext: it does not start with the PNG
signature (``\\x89PNG``), and its first four bytes ``b"NEQR"`` read as a little-endian
float32 are about 2.2e11 (> 1), while the first four bytes of a matrix are a float32 in
[0, 1]. So `is_layered` is false for every PNG and every valid matrix.

Integrity: NEQR itself is not authenticated. A wrong key (or object id) is caught by NEQR's
key check value; but a flipped cipher pixel would simply decrypt to different pixels. The
container's HMAC tag catches that (and any header edit), so `open` raises `NeqrLayerError`
rather than return garbage; upstream, AES-256-GCM already rejects any altered ciphertext
before the layer is reached.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct

import numpy as np

__all__ = [
    "KINDS",
    "MAGIC",
    "MAX_MATRIX_BYTES",
    "NEQR_PREVIEW_MAX_SIDE",
    "NeqrLayerError",
    "apply",
    "cipher_image_png",
    "describe",
    "is_layered",
    "neqr_key_for",
    "open",
]

MAGIC = b"NEQR-QMC-LAYER1\n"
VERSION = 1
KINDS = ("preview", "matrix")
NEQR_PREVIEW_MAX_SIDE = 512
MAX_MATRIX_BYTES = 512 * 512
MAX_HEADER = 4096
TAG_SIZE = 32
PATH = "classical, proven identical to the circuit"
_LEN = struct.Struct(">I")
_INFO = b"qmedchain neqr layer v1|"
_MAC_INFO = b"qmedchain neqr layer v1 mac|"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class NeqrLayerError(ValueError):
    """The layered object cannot be opened: wrong key or object id, altered, or malformed."""


# ---------------------------------------------------------------- keys
def _hkdf(data_key: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if not isinstance(data_key, bytes | bytearray) or len(data_key) != 32:
        raise ValueError("the data key must be 32 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(bytes(data_key))


def neqr_key_for(data_key: bytes, object_id: str):
    """The `quantum.neqr.NeqrKey` of one object (HKDF-SHA256 of its AES data key)."""
    from quantum.neqr import NeqrKey

    return NeqrKey(_hkdf(data_key, _INFO + str(object_id).encode()))


def _mac_key(data_key: bytes, object_id: str) -> bytes:
    return _hkdf(data_key, _MAC_INFO + str(object_id).encode())


# ---------------------------------------------------------------- helpers
def _png(pixels: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(pixels, dtype=np.uint8))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def _preview_pixels(png: bytes) -> tuple[np.ndarray, tuple[int, int]]:
    """The 8-bit pixels of a preview PNG, downscaled to NEQR_PREVIEW_MAX_SIDE; and the source size."""
    import cv2

    if not bytes(png[:8]) == _PNG_SIGNATURE:
        raise ValueError("a preview must be a PNG")
    img = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError("the preview PNG could not be decoded")
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"a preview must be 8-bit single-channel, got {img.dtype} {img.shape}")
    h, w = img.shape
    if max(h, w) > NEQR_PREVIEW_MAX_SIDE:
        scale = NEQR_PREVIEW_MAX_SIDE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img, dtype=np.uint8), (h, w)


def _bytes_square(data: bytes) -> np.ndarray:
    """`data` row-major in the smallest 2^n x 2^n (n >= 1) uint8 image, zero-padded."""
    n = len(data)
    side = 2
    while side * side < n:
        side *= 2
    flat = np.zeros(side * side, dtype=np.uint8)
    flat[:n] = np.frombuffer(data, dtype=np.uint8)
    return flat.reshape(side, side)


def _canonical(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


# ---------------------------------------------------------------- public API
def is_layered(data: bytes) -> bool:
    """True when `data` starts with the layer's magic (never for a PNG or a matrix in [0, 1])."""
    return len(data) >= len(MAGIC) and bytes(data[: len(MAGIC)]) == MAGIC


def apply(kind: str, plaintext: bytes, data_key: bytes, *, object_id: str) -> bytes:
    """NEQR-encrypt a derived object's plaintext (before AES-256-GCM). See the module docstring."""
    from quantum.neqr import encrypt_image

    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"the NEQR layer applies to {' and '.join(KINDS)} objects only, not {kind!r}")
    kind = KINDS[KINDS.index(kind)]  # the plain string (callers may pass ObjectKind members)
    plaintext = bytes(plaintext)
    if is_layered(plaintext):
        raise ValueError("the object already carries the NEQR layer")
    header: dict = {"v": VERSION, "kind": kind, "length": len(plaintext)}
    if kind == "preview":
        pixels, source = _preview_pixels(plaintext)
        header["source"] = list(source)
    else:
        if len(plaintext) > MAX_MATRIX_BYTES:
            raise ValueError(f"a matrix object may be at most {MAX_MATRIX_BYTES} bytes, got {len(plaintext)}")
        pixels = _bytes_square(plaintext)
    header["image"] = list(pixels.shape)
    key = neqr_key_for(data_key, object_id)
    cipher, meta, _info = encrypt_image(pixels, key, force_classical=True)
    header["neqr"] = meta
    head = _canonical(header)
    body = MAGIC + _LEN.pack(len(head)) + head + np.ascontiguousarray(cipher, dtype=np.uint8).tobytes()
    tag = hmac.new(_mac_key(data_key, object_id), body, hashlib.sha256).digest()
    return body + tag


def _parse(layered: bytes) -> tuple[dict, np.ndarray, bytes, bytes]:
    """(header, cipher image, authenticated body, tag); NeqrLayerError when malformed."""
    layered = bytes(layered)
    if not is_layered(layered):
        raise NeqrLayerError("not a NEQR-layered object (magic prefix missing)")
    off = len(MAGIC)
    if len(layered) < off + _LEN.size + TAG_SIZE:
        raise NeqrLayerError("NEQR layer container truncated")
    (hlen,) = _LEN.unpack_from(layered, off)
    off += _LEN.size
    if not 0 < hlen <= MAX_HEADER or off + hlen > len(layered):
        raise NeqrLayerError("NEQR layer header length is invalid")
    try:
        header = json.loads(layered[off : off + hlen].decode("utf-8"))
        meta = header["neqr"]
        side = int(meta["side"])
        ih, iw = (int(v) for v in header["image"])
        length = int(header["length"])
        kind = header["kind"]
        ok = (
            isinstance(header, dict)
            and header.get("v") == VERSION
            and kind in KINDS
            and isinstance(meta, dict)
            and side >= 2
            and side & (side - 1) == 0
            and side <= 4096
            and (int(meta["height"]), int(meta["width"])) == (ih, iw)
            and 0 < ih <= side
            and 0 < iw <= side
            and 0 <= length
        )
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise NeqrLayerError("NEQR layer header is malformed (altered or corrupt)") from None
    if not ok:
        raise NeqrLayerError("NEQR layer header is inconsistent (altered or corrupt)")
    off += hlen
    if len(layered) != off + side * side + TAG_SIZE:
        raise NeqrLayerError("NEQR layer container has the wrong length (truncated or extended)")
    cipher = np.frombuffer(layered, dtype=np.uint8, count=side * side, offset=off).reshape(side, side)
    body, tag = layered[:-TAG_SIZE], layered[-TAG_SIZE:]
    return header, cipher, body, tag


def open(layered: bytes, data_key: bytes, *, object_id: str) -> bytes:  # the pipeline's name for it
    """Remove the layer: the original bytes of a matrix, an 8-bit PNG of a preview's pixels.

    Raises NeqrLayerError for a wrong data key or object id, an altered or malformed container.
    """
    from quantum import QuantumParamError
    from quantum.neqr import decrypt_image

    header, cipher, body, tag = _parse(layered)
    key = neqr_key_for(data_key, object_id)
    if not hmac.compare_digest(str(header["neqr"].get("kcv", "")), key.kcv()):
        raise NeqrLayerError(
            "wrong key for this NEQR layer (key check value differs): not this object's data key "
            "or object id, or the header was altered"
        )
    expected = hmac.new(_mac_key(data_key, object_id), body, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, tag):
        raise NeqrLayerError("the NEQR layer was altered (authentication tag does not match)")
    try:
        pixels, _info = decrypt_image(cipher.copy(), header["neqr"], key, force_classical=True)
    except QuantumParamError as exc:
        raise NeqrLayerError(f"the NEQR layer does not decrypt: {exc}") from None
    if header["kind"] == "preview":
        return _png(pixels)
    length = int(header["length"])
    flat = pixels.reshape(-1)
    if length > flat.size:
        raise NeqrLayerError("NEQR layer header gives a length larger than the image")
    return flat[:length].tobytes()


def cipher_image_png(layered: bytes) -> bytes:
    """An 8-bit grayscale PNG of the whole 2^n x 2^n NEQR cipher image (needs no key)."""
    _header, cipher, _body, _tag = _parse(layered)
    return _png(cipher)


def describe(layered: bytes) -> dict:
    """What the layer holds, readable without a key (it reveals sizes only)."""
    header, cipher, _body, _tag = _parse(layered)
    meta = header["neqr"]
    out = {
        "simulated": True,
        "scheme": meta.get("scheme"),
        "kind": header["kind"],
        "side": int(cipher.shape[0]),
        "image": [int(v) for v in header["image"]],
        "original_size": int(header["length"]),
        "path": PATH,
        "map": meta.get("map"),
    }
    if "source" in header:
        out["source"] = [int(v) for v in header["source"]]
    return out
