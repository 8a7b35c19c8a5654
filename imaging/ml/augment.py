"""Seeded augmentation on the 28×28 model grid: small rotations, shifts, zoom, gamma, contrast."""

from __future__ import annotations

import cv2
import numpy as np


def augment(images: np.ndarray, copies: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (augmented images, index of the source image) including the originals first.

    Each copy: rotation ±10°, shift ±2 px, zoom 0.92–1.08 (reflect border), gamma 0.8–1.25,
    contrast 0.85–1.15 and brightness ±0.07 around mid-grey, clipped to [0, 1].
    """
    rng = np.random.default_rng(seed)
    n = images.shape[0]
    out = [images.astype(np.float32, copy=False)]
    src = [np.arange(n)]
    c0 = (images.shape[2] - 1) / 2.0
    for _ in range(copies):
        batch = np.empty_like(out[0])
        for i in range(n):
            ang = rng.uniform(-10, 10)
            tx, ty = rng.uniform(-2, 2, 2)
            sc = rng.uniform(0.92, 1.08)
            m = cv2.getRotationMatrix2D((c0, c0), ang, sc)
            m[:, 2] += (tx, ty)
            z = cv2.warpAffine(
                out[0][i], m, images.shape[1:][::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            )
            z = np.clip(z, 0, 1) ** rng.uniform(0.8, 1.25)
            z = (z - 0.5) * rng.uniform(0.85, 1.15) + 0.5 + rng.uniform(-0.07, 0.07)
            batch[i] = np.clip(z, 0, 1)
        out.append(batch)
        src.append(np.arange(n))
    return np.concatenate(out), np.concatenate(src)
