"""8-bit grayscale PNG input/output (Pillow), with clear errors for unreadable files."""

from __future__ import annotations

import numpy as np

from quantum import QuantumParamError


def read_gray_png(path: str) -> np.ndarray:
    """Read an image as 8-bit grayscale (colour images are converted with ITU-R 601 luma)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("L", "P", "RGB", "RGBA", "LA", "I", "I;16", "1"):
                raise QuantumParamError(f"{path}: unsupported image mode {im.mode}")
            if im.mode in ("I", "I;16"):
                arr = np.asarray(im, dtype=np.float64)
                hi = arr.max() or 1.0
                return np.clip(np.rint(arr / hi * 255), 0, 255).astype(np.uint8)
            return np.asarray(im.convert("L"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise QuantumParamError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, QuantumParamError):
            raise
        raise QuantumParamError(f"{path}: not a readable PNG/image ({type(exc).__name__})") from None


def write_gray_png(path: str, img: np.ndarray, text: dict[str, str] | None = None) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim != 2:
        raise QuantumParamError("image must be a 2-D uint8 array")
    info = None
    if text:
        info = PngInfo()
        for k, v in text.items():
            info.add_text(k, v)
    try:
        Image.fromarray(arr, mode="L").save(path, format="PNG", pnginfo=info)
    except OSError as exc:
        raise QuantumParamError(f"{path}: cannot write ({exc.strerror or exc})") from None
