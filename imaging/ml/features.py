"""Hand-crafted features on the 28×28 model grid (pure numpy, vectorised over a batch).

* **pixels**: the 28×28 image standardised per image (subtract its mean, divide by its
  standard deviation) — removes exposure/contrast differences between sources, so it does
  not matter whether the pipeline normalised by /255 or by min–max.
* **HOG**: gradients by central differences (edge-replicated), unsigned orientation in 9
  bins of 20° with linear interpolation between neighbouring bins, 4×4-pixel cells
  (7×7 cells), 2×2-cell blocks with stride 1 (6×6 blocks) and L2-Hys normalisation
  (clip 0.2) → 1,296 values.  Gradients are invariant to brightness offsets and the block
  normalisation to contrast.

Total 2,080 features per image.

One diagnosis asks for the features of the same single image twice (the applicability gate
and the classical part of the model), so the last single image's features are kept and a
copy handed out when the same pixels come again (`features`).
"""

from __future__ import annotations

import hashlib

import numpy as np

N_BINS = 9
CELL = 4
EPS = 1e-6


def standardise(images: np.ndarray) -> np.ndarray:
    x = images.reshape(images.shape[0], -1).astype(np.float32, copy=False)
    m = x.mean(axis=1, keepdims=True)
    s = x.std(axis=1, keepdims=True)
    return (x - m) / (s + np.float32(1e-3))


def hog(images: np.ndarray) -> np.ndarray:
    """HOG of a batch (n, 28, 28) → (n, 1296) float32 (see module docstring)."""
    x = images.astype(np.float32, copy=False)
    n, h, w = x.shape
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    gx = (p[:, 1:-1, 2:] - p[:, 1:-1, :-2]) * np.float32(0.5)
    gy = (p[:, 2:, 1:-1] - p[:, :-2, 1:-1]) * np.float32(0.5)
    mag = np.sqrt(gx * gx + gy * gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi) * np.float32(N_BINS / np.pi)  # in [0, 9)
    lo = np.floor(ang).astype(np.int64)
    frac = (ang - lo).astype(np.float32)
    lo %= N_BINS
    hi = (lo + 1) % N_BINS
    wlo = mag * (1 - frac)
    whi = mag * frac
    hist = np.stack(
        [np.where(lo == k, wlo, 0) + np.where(hi == k, whi, 0) for k in range(N_BINS)], axis=-1
    ).astype(np.float32, copy=False)
    ch, cw = h // CELL, w // CELL
    cells = hist[:, : ch * CELL, : cw * CELL].reshape(n, ch, CELL, cw, CELL, N_BINS).sum(axis=(2, 4))
    blocks = np.concatenate(
        [cells[:, :-1, :-1], cells[:, :-1, 1:], cells[:, 1:, :-1], cells[:, 1:, 1:]], axis=-1
    )  # (n, ch-1, cw-1, 4*9)
    b = blocks / np.sqrt((blocks * blocks).sum(-1, keepdims=True) + EPS)
    b = np.minimum(b, np.float32(0.2))
    b = b / np.sqrt((b * b).sum(-1, keepdims=True) + EPS)
    return b.reshape(n, -1).astype(np.float32, copy=False)


def _compute(images28: np.ndarray) -> np.ndarray:
    return np.hstack([standardise(images28), hog(images28)])


_last: tuple[bytes, np.ndarray] | None = None  # (key of one image, its features); replaced whole


def features(images28: np.ndarray) -> np.ndarray:
    """(n, 28, 28) float in [0, 1] → (n, 2080) float32."""
    global _last
    x = np.asarray(images28)
    if x.shape[:1] != (1,):
        return _compute(x)
    key = str(x.dtype).encode() + hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).digest()
    last = _last
    if last is not None and last[0] == key:
        return last[1].copy()
    out = _compute(x)
    _last = (key, out.copy())
    return out
