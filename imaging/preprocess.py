"""Preprocessing of the source design and the preview rendering (pure module, no Django).

`preprocess(display)`: grayscale display image (float in [0, 1]) -> resize to 128 x 128
with ``cv2.INTER_AREA`` -> clip to [0, 1] (the input is already normalised to [0, 1] by
`imaging.decode`) -> ``float32``. `flatten` gives the 16,384-vector of the source design.

Canonical byte layout hashed for ``Scan.pixel_sha256`` (and stored, encrypted, as the
``matrix`` object): the 128 x 128 matrix as IEEE-754 ``float32``, **little-endian**,
**row-major** (C order, row 0 first, left to right), no header: exactly 65,536 bytes.
``pixel_sha256 = SHA-256(canonical_bytes(matrix))``.

`render_preview(display)`: an 8-bit grayscale PNG of the display image (already windowed
by the decoder), at most ``PREVIEW_MAX_SIDE`` pixels on the long side. It is encoded by
OpenCV from the pixel array alone, so no DICOM tag, file name or other text can be
embedded or burnt in.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

PREPROCESS_VERSION = "1"
SIZE = 128
CANONICAL_DTYPE = np.dtype("<f4")
CANONICAL_BYTES = SIZE * SIZE * CANONICAL_DTYPE.itemsize  # 65536
PREVIEW_MAX_SIDE = 1024


def preprocess(display: np.ndarray) -> np.ndarray:
    img = np.asarray(display)
    if img.ndim == 3:
        code = cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        img = cv2.cvtColor(img.astype(np.float32), code)
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"cannot preprocess an image of shape {img.shape}")
    img = img.astype(np.float32, copy=False)  # the decoder's display is float32 already: no copy
    out = cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def flatten(matrix: np.ndarray) -> np.ndarray:
    return np.asarray(matrix, dtype=np.float32).reshape(-1)


def canonical_bytes(matrix: np.ndarray) -> bytes:
    m = np.asarray(matrix)
    if m.shape != (SIZE, SIZE):
        raise ValueError(f"matrix must be {SIZE}x{SIZE}, got {m.shape}")
    return np.ascontiguousarray(m, dtype=CANONICAL_DTYPE).tobytes(order="C")


def matrix_from_bytes(data: bytes) -> np.ndarray:
    if len(data) != CANONICAL_BYTES:
        raise ValueError(f"matrix bytes must be {CANONICAL_BYTES} long, got {len(data)}")
    return np.frombuffer(data, dtype=CANONICAL_DTYPE).reshape(SIZE, SIZE).astype(np.float32)


def pixel_sha256(matrix: np.ndarray) -> str:
    return hashlib.sha256(canonical_bytes(matrix)).hexdigest()


def to_png(image01: np.ndarray, *, max_side: int | None = None) -> bytes:
    """8-bit grayscale PNG of a [0, 1] image (no metadata chunks).

    Values are clipped to [0, 1] after the downscale, not before: the same pixels for a
    [0, 1] input, without a full-size copy (16 MB for a 2048 x 2048 image)."""
    img = np.asarray(image01, dtype=np.float32)
    h, w = img.shape[:2]
    if max_side and max(h, w) > max_side:
        scale = max_side / max(h, w)
        img = cv2.resize(
            img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    img = np.clip(img, 0.0, 1.0)
    u8 = np.round(img * 255.0).astype(np.uint8)
    ok, buf = cv2.imencode(".png", u8)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def render_preview(display: np.ndarray) -> bytes:
    return to_png(display, max_side=PREVIEW_MAX_SIDE)


def render_matrix(matrix: np.ndarray) -> bytes:
    return to_png(matrix)
