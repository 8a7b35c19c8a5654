"""Saliency: a heat map of what drove a prediction (pure: no Django).

`saliency_map(model, image128)` returns a float32 (128, 128) map in [0, 1]:

* the model's own ``saliency(image128)`` when it has one (the CNN's class activation map,
  and the ensemble's);
* otherwise **occlusion** on the 28 × 28 model grid: a ``PATCH`` × ``PATCH`` (7 × 7) patch
  slid with stride ``STRIDE`` (3; 64 positions) is replaced by the image's mean, all occluded
  copies scored in ONE batch by ``model.proba_grid``, and each pixel gets the mean drop of
  the predicted class's probability over the patches that cover it (clipped at 0: only what
  supported the prediction), upsampled to 128 × 128 and scaled to [0, 1]. For the classical
  model that is ~40 ms per scan on one core (its HOG features dominate), against ~2 ms for
  its prediction: the CNN's CAM is the cheap path.

`overlay_png(preview_png, heat)` draws the map as a colour (JET) PNG with alpha, the size of
the preview, for the scan page's overlay toggle.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import contract

PATCH = 7
STRIDE = 3


def occlusion(model, image128: np.ndarray, *, patch: int = PATCH, stride: int = STRIDE) -> np.ndarray:
    """Occlusion saliency on the model grid → (28, 28) float64 ≥ 0 (unscaled)."""
    grid = contract.to_model_grid(contract.check_image(image128))
    n = contract.MODEL_SIZE
    starts = list(range(0, n - patch + 1, stride))
    if starts[-1] != n - patch:
        starts.append(n - patch)
    fill = float(grid.mean())
    boxes = [(r, c) for r in starts for c in starts]
    batch = np.repeat(grid[None], len(boxes) + 1, axis=0)
    for k, (r, c) in enumerate(boxes, start=1):
        batch[k, r : r + patch, c : c + patch] = fill
    p = np.asarray(model.proba_grid(batch), dtype=np.float64)
    base = p[0]
    positive = base >= float(getattr(model, "threshold", 0.5))
    drop = (base - p[1:]) if positive else (p[1:] - base)
    heat = np.zeros((n, n))
    cover = np.zeros((n, n))
    for d, (r, c) in zip(drop, boxes, strict=True):
        heat[r : r + patch, c : c + patch] += max(float(d), 0.0)
        cover[r : r + patch, c : c + patch] += 1.0
    return heat / np.maximum(cover, 1.0)


def _to_unit_128(heat: np.ndarray) -> np.ndarray:
    h = np.asarray(heat, dtype=np.float32)
    if h.shape != (contract.PIPELINE_SIZE, contract.PIPELINE_SIZE):
        h = cv2.resize(h, (contract.PIPELINE_SIZE,) * 2, interpolation=cv2.INTER_CUBIC)
    h = np.nan_to_num(h, nan=0.0, posinf=0.0, neginf=0.0)
    h = np.clip(h, 0.0, None)
    top = float(h.max())
    return (h / top if top > 0 else h).astype(np.float32)


def saliency_map(model, image128: np.ndarray) -> np.ndarray:
    """(128, 128) float32 in [0, 1]: the model's CAM if it has one, else occlusion."""
    own = getattr(model, "saliency", None)
    if callable(own):
        return _to_unit_128(own(image128))
    if not hasattr(model, "proba_grid"):
        raise TypeError(f"{type(model).__name__} has neither saliency() nor proba_grid()")
    return _to_unit_128(occlusion(model, image128))


def heat_png(heat: np.ndarray) -> bytes:
    """The 128 × 128 map as an 8-bit grayscale PNG (what is stored, encrypted)."""
    u8 = np.round(np.clip(np.asarray(heat, dtype=np.float32), 0, 1) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", u8)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def heat_from_png(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError("not a PNG saliency map")
    return img.astype(np.float32) / 255.0


def overlay_png(heat: np.ndarray, *, size: tuple[int, int] | None = None, max_alpha: float = 0.6) -> bytes:
    """A JET colour map PNG with alpha (transparent where the map is low), `size` = (w, h)."""
    h = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)
    if size is not None and (h.shape[1], h.shape[0]) != tuple(size):
        h = cv2.resize(h, tuple(size), interpolation=cv2.INTER_CUBIC)
        h = np.clip(h, 0, 1)
    u8 = np.round(h * 255).astype(np.uint8)
    bgr = cv2.applyColorMap(u8, cv2.COLORMAP_JET)
    alpha = np.round(np.clip(h * 1.5, 0, 1) * max_alpha * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", np.dstack([bgr, alpha]))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
