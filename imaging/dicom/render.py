"""Rendered images of an instance (WADO-RS rendered and thumbnail, PS3.18 8.3.5.1.3) (pure
module, no Django): the display image (imaging.decode) written as PNG or JPEG, optionally
scaled into a viewport."""

from __future__ import annotations

import re

import cv2
import numpy as np

PNG = "image/png"
JPEG = "image/jpeg"
MEDIA_TYPES = (PNG, JPEG)
THUMBNAIL_SIDE = 128
MAX_VIEWPORT = 4096
FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
_NUMBER = r"-?\d+(\.\d+)?"


class RenderError(ValueError):
    """A rendering parameter is malformed; the message names it."""


def parse_window(text: str) -> tuple[float, float, str]:
    """``center,width[,function]`` (PS3.18 8.3.5.1.3: ``window=40,400,linear``)."""
    pieces = [p.strip() for p in text.split(",")]
    if len(pieces) not in (2, 3) or not all(re.fullmatch(_NUMBER, p) for p in pieces[:2]):
        raise RenderError("window is center,width[,function], e.g. window=40,400,linear.")
    center, width = float(pieces[0]), float(pieces[1])
    function = pieces[2].upper() if len(pieces) == 3 else "LINEAR"
    if width <= 0:
        raise RenderError("window: the width must be positive.")
    if function not in FUNCTIONS:
        raise RenderError("window: the function is linear, linear_exact or sigmoid.")
    return center, width, function


def parse_viewport(text: str) -> tuple[int, int]:
    """``width,height`` in pixels: the image is scaled to fit inside, keeping its aspect."""
    pieces = [p.strip() for p in text.split(",")]
    if len(pieces) != 2 or not all(p.isdigit() for p in pieces):
        raise RenderError("viewport is width,height in pixels, e.g. viewport=512,512.")
    width, height = int(pieces[0]), int(pieces[1])
    if not (1 <= width <= MAX_VIEWPORT and 1 <= height <= MAX_VIEWPORT):
        raise RenderError(f"viewport: each side is between 1 and {MAX_VIEWPORT} pixels.")
    return width, height


def parse_quality(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise RenderError("quality is an integer from 1 to 100.")
    return int(text)


def fit(display: np.ndarray, viewport: tuple[int, int] | None) -> np.ndarray:
    if viewport is None:
        return display
    height, width = display.shape[:2]
    scale = min(viewport[0] / width, viewport[1] / height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out: np.ndarray = cv2.resize(display, size, interpolation=interpolation)
    return out


def encode(
    display: np.ndarray,
    media_type: str,
    *,
    viewport: tuple[int, int] | None = None,
    quality: int | None = None,
) -> bytes:
    """`display` (float in [0, 1], 0 black) as an 8-bit PNG or JPEG."""
    image = np.clip(fit(display.astype(np.float32), viewport) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if media_type == JPEG:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality or 90])
    elif media_type == PNG:
        ok, buf = cv2.imencode(".png", image)
    else:
        raise ValueError(f"unsupported media type {media_type!r}")
    if not ok:
        raise ValueError("the image could not be encoded")
    return bytes(buf.tobytes())
