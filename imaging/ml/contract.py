"""The input contract between the scan pipeline and the diagnosis models.

The pipeline's preprocess step produces a **float array of shape (128, 128) with values in
[0, 1]** (grayscale, ``cv2.resize(..., (128, 128), interpolation=cv2.INTER_AREA)``,
normalised).  Models are defined on a 28×28 grid (the MedMNIST resolution they were trained
on) and reach it by one fixed route::

    128×128 float in [0, 1]  --cv2.INTER_AREA-->  28×28 float32

Training images (28×28 uint8 MedMNIST) are sent through the *same* route as a scan:
``pipeline_preprocess`` (uint8 → grayscale → 128×128 INTER_AREA → /255) and then
``to_model_grid`` (128 → 28 INTER_AREA).  So a model is trained on exactly what it will see
at inference, whatever resolution the original upload had.

Inputs that do not follow the contract are handled explicitly:

* 2-D arrays of another size with values in [0, 1] are resized with INTER_AREA (safe: it is
  the same operation the pipeline would have applied);
* uint8 / uint16 arrays are scaled to [0, 1] by their dtype range (255 / 65535);
* 3-channel (H, W, 3) arrays are converted to grayscale with the pipeline's BGR→GRAY rule;
* anything else (NaN/inf, floats outside [0, 1], booleans, complex, wrong rank, empty,
  tiny images) raises :class:`InputError`.
"""

from __future__ import annotations

import cv2
import numpy as np

PIPELINE_SIZE = 128
MODEL_SIZE = 28


class InputError(ValueError):
    """An image handed to a model violates the input contract and cannot be safely fixed."""


def pipeline_preprocess(image: np.ndarray) -> np.ndarray:
    """Reference copy of the scan pipeline's preprocess: grayscale, 128×128 INTER_AREA, [0, 1].

    Used to send training images through the same path as uploaded scans.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
    if img.ndim != 2:
        raise InputError(f"cannot preprocess an image of shape {img.shape}")
    if img.dtype == np.uint8:
        scale = 255.0
    elif img.dtype == np.uint16:
        scale = 65535.0
    else:
        raise InputError(f"pipeline_preprocess expects uint8/uint16 pixels, got {img.dtype}")
    out = cv2.resize(
        img.astype(np.float32) / np.float32(scale),
        (PIPELINE_SIZE, PIPELINE_SIZE),
        interpolation=cv2.INTER_AREA,
    )
    return np.clip(out, 0.0, 1.0)


def to_model_grid(image128: np.ndarray) -> np.ndarray:
    """128×128 float in [0, 1] → 28×28 float32 by INTER_AREA (the one downsampling route)."""
    return cv2.resize(
        np.asarray(image128, dtype=np.float32), (MODEL_SIZE, MODEL_SIZE), interpolation=cv2.INTER_AREA
    )


def medmnist_to_model_grid(images28: np.ndarray) -> np.ndarray:
    """MedMNIST uint8 (n, 28, 28) → what a model sees after the pipeline: (n, 28, 28) float32."""
    images28 = np.asarray(images28)
    out = np.empty((images28.shape[0], MODEL_SIZE, MODEL_SIZE), dtype=np.float32)
    for i, img in enumerate(images28):
        out[i] = to_model_grid(pipeline_preprocess(img))
    return out


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate one image against the contract and return it as 128×128 float32 in [0, 1]."""
    if not isinstance(image, np.ndarray):
        try:
            image = np.asarray(image)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise InputError(f"image is not array-like: {type(image).__name__}") from exc
    if image.dtype == np.bool_ or np.issubdtype(image.dtype, np.complexfloating) or image.dtype == object:
        raise InputError(f"image dtype {image.dtype} is not supported; expected float in [0, 1] or uint8")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        if image.dtype not in (np.uint8, np.uint16, np.float32):
            image = image.astype(np.float32)
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        image = cv2.cvtColor(image, code)
    if image.ndim != 2:
        raise InputError(
            f"image has shape {image.shape}; expected a 2-D grayscale array (the pipeline gives 128x128)"
        )
    h, w = image.shape
    if h < 8 or w < 8:
        raise InputError(f"image is {h}x{w}; too small to diagnose (expected 128x128)")
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / np.float32(255.0)
    elif image.dtype == np.uint16:
        image = image.astype(np.float32) / np.float32(65535.0)
    elif np.issubdtype(image.dtype, np.integer):
        raise InputError(f"integer dtype {image.dtype} is ambiguous; pass uint8, uint16 or float in [0, 1]")
    elif np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32, copy=False)
        if not np.all(np.isfinite(image)):
            raise InputError("image contains NaN or infinite values")
        lo, hi = float(image.min()), float(image.max())
        if lo < -1e-6 or hi > 1.0 + 1e-6:
            raise InputError(
                f"float image values span [{lo:.4g}, {hi:.4g}]; expected the pipeline's normalised "
                "range [0, 1] (a 0-255 float image must be divided by 255 first)"
            )
        image = np.clip(image, 0.0, 1.0)
    else:
        raise InputError(f"image dtype {image.dtype} is not supported")
    if (h, w) != (PIPELINE_SIZE, PIPELINE_SIZE):
        image = cv2.resize(image, (PIPELINE_SIZE, PIPELINE_SIZE), interpolation=cv2.INTER_AREA)
    return image


_AREA: np.ndarray | None = None


def _area_matrix() -> np.ndarray:
    """The 28×128 matrix A with cv2.resize(X, 28×28, INTER_AREA) == A @ X @ A.T."""
    global _AREA
    if _AREA is None:
        a = np.zeros((MODEL_SIZE, PIPELINE_SIZE), dtype=np.float32)
        for j in range(PIPELINE_SIZE):
            e = np.zeros((PIPELINE_SIZE, PIPELINE_SIZE), dtype=np.float32)
            e[j, :] = 1.0
            a[:, j] = cv2.resize(e, (MODEL_SIZE, MODEL_SIZE), interpolation=cv2.INTER_AREA)[:, 0]
        _AREA = a
    return _AREA


def images_to_model_grid(images: np.ndarray | list) -> np.ndarray:
    """Batch: a (n, 128, 128) float array (fast path) or a list of images → (n, 28, 28) float32."""
    if (
        isinstance(images, np.ndarray)
        and images.ndim == 3
        and images.shape[1:] == (PIPELINE_SIZE,) * 2
        and images.dtype in (np.float32, np.float64)
    ):
        if images.shape[0] == 0:
            return np.empty((0, MODEL_SIZE, MODEL_SIZE), dtype=np.float32)
        if not np.all(np.isfinite(images)):
            raise InputError("batch contains NaN or infinite values")
        lo, hi = float(images.min()), float(images.max())
        if lo < -1e-6 or hi > 1.0 + 1e-6:
            raise InputError(f"batch values span [{lo:.4g}, {hi:.4g}]; expected [0, 1]")
        x = np.clip(images.astype(np.float32, copy=False), 0.0, 1.0)
        # INTER_AREA is separable: resize(X) == A @ X @ A.T with A the 28x128 area-weight
        # matrix read off cv2 itself (tested equal to cv2.resize per image to 1e-6).
        a = _area_matrix()
        return np.matmul(np.matmul(a, x), a.T).astype(np.float32, copy=False)
    return (
        np.stack([to_model_grid(check_image(im)) for im in images])
        if len(images)
        else np.empty((0, MODEL_SIZE, MODEL_SIZE), dtype=np.float32)
    )
