"""Decode DICOM / PNG / JPEG into one display-ready grayscale image (pure module, no Django).

Output: `DecodedImage.display`, a 2-D ``float32`` array in [0, 1] where 0 is black and
1 is white as a radiologist would see it, plus a few non-identifying tags.

DICOM (pydicom 3):

* **one frame** of a multi-frame object, the first unless asked (``pixel_array(ds, index=i)``:
  only that frame is decoded); the number of frames is kept in `frames`. The diagnosis models
  are 2-D, so the pipeline documents and uses frame 0; DICOMweb's rendered resource asks for
  any frame, and may pass a window of its own;
* colour (``SamplesPerPixel`` 3, RGB/YBR converted to RGB by pydicom) -> grayscale with
  ITU-R BT.601 weights (OpenCV ``RGB2GRAY``); no LUTs apply to colour images;
* grayscale: **Modality LUT** (Rescale Slope/Intercept or Modality LUT Sequence, via
  ``pydicom.pixels.apply_modality_lut``), then **VOI**: a VOI LUT Sequence via
  ``pydicom.pixels.apply_voi`` (output scaled by its LUT depth); else the first
  Window Center/Width with the VOI LUT Function of PS3.3 C.11.2.1.2 (LINEAR,
  LINEAR_EXACT, SIGMOID) mapped straight onto [0, 1]; else, with no VOI in the file,
  the full range of the modality values (min..max);
* ``MONOCHROME1`` (low values bright) is inverted so that 1 is always white.

PNG / JPEG: OpenCV ``IMREAD_UNCHANGED`` (keeps 16-bit PNGs 16-bit), BGR/BGRA -> gray,
then divided by the dtype's maximum (255 or 65535). This is the same scaling as
``imaging.ml.contract.pipeline_preprocess``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import cv2
import numpy as np


class DecodeError(Exception):
    """The image could not be decoded; the message is fit to show to a person."""


@dataclass
class DecodedImage:
    display: np.ndarray  # float32 (H, W) in [0, 1]
    format: str
    width: int
    height: int
    frames: int = 1
    modality: str = ""
    body_part: str = ""
    study_date: date | None = None
    photometric: str = ""
    windowing: str = ""  # how the display range was chosen (for the viewer)


def _gray_from_cv(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
    if img.ndim != 2:
        raise DecodeError(f"Unsupported image layout {img.shape}.")
    return img


def _scale_by_dtype(img: np.ndarray) -> np.ndarray:
    if img.dtype in (np.uint8, np.uint16):  # divided in place: one float copy, not two
        out = img.astype(np.float32)
        return np.divide(out, np.float32(np.iinfo(img.dtype).max), out=out)
    if np.issubdtype(img.dtype, np.floating):
        return np.clip(img.astype(np.float32), 0.0, 1.0)
    raise DecodeError(f"Unsupported pixel type {img.dtype}.")


def decode_raster(data: bytes, fmt: str) -> DecodedImage:
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise DecodeError(f"The {fmt.upper()} image could not be decoded (damaged or truncated).")
    gray = _gray_from_cv(img)
    return DecodedImage(
        display=_scale_by_dtype(gray),
        format=fmt,
        width=int(gray.shape[1]),
        height=int(gray.shape[0]),
        windowing="full range of the pixel type",
    )


def _window(arr: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """PS3.3 C.11.2.1.2 window onto [0, 1]."""
    x = arr.astype(np.float64)
    if function == "SIGMOID":
        out = 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    elif function == "LINEAR_EXACT":
        out = (x - center) / width + 0.5
    else:  # LINEAR
        if width < 1:
            width = 1.0
        out = np.where(
            x <= center - 0.5 - (width - 1) / 2,
            0.0,
            np.where(
                x > center - 0.5 + (width - 1) / 2, 1.0, (x - (center - 0.5)) / max(width - 1, 1e-9) + 0.5
            ),
        )
    return np.clip(out, 0.0, 1.0)


def _first(value) -> float:
    try:
        return float(value[0])
    except TypeError:
        return float(value)


def _study_date(raw) -> date | None:
    s = str(raw or "").strip()
    if len(s) >= 8 and s[:8].isdigit():
        try:
            return date(int(s[:4]), int(s[4:6]), int(s[6:8]))
        except ValueError:
            return None
    return None


def decode_dicom(
    data: bytes, *, frame: int = 0, window: tuple[float, float, str] | None = None
) -> DecodedImage:
    """`frame` (0-based) picks the frame of a multi-frame object (DICOMweb rendered); `window`
    (center, width, VOI LUT function) replaces the file's VOI for a grayscale image."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi, pixel_array

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        frames = max(1, int(ds.get("NumberOfFrames") or 1))
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged data
        raise DecodeError(f"The DICOM file could not be read ({type(exc).__name__}).") from exc
    if not 0 <= frame < frames:
        raise DecodeError(f"The instance has no frame {frame + 1} (it has {frames}).")
    try:
        arr = pixel_array(ds, index=frame) if frames > 1 else ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - pydicom/numpy raise many types for damaged data
        raise DecodeError(f"The DICOM pixel data could not be decoded ({type(exc).__name__}).") from exc

    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    samples = int(ds.get("SamplesPerPixel") or 1)
    if samples > 1 or arr.ndim == 3:
        if arr.ndim == 3 and arr.shape[-1] in (3, 4):
            code = cv2.COLOR_RGB2GRAY if arr.shape[-1] == 3 else cv2.COLOR_RGBA2GRAY
            if arr.dtype not in (np.uint8, np.uint16):
                arr = arr.astype(np.float32)
            gray = cv2.cvtColor(arr, code)
        else:
            raise DecodeError(f"Unsupported DICOM pixel layout {arr.shape}.")
        if np.issubdtype(gray.dtype, np.integer):
            bits = int(ds.get("BitsStored") or (8 if gray.dtype == np.uint8 else 16))
            display = np.clip(gray.astype(np.float32) / np.float32(2**bits - 1), 0, 1)
        else:
            display = _minmax(gray)
        windowing = "colour converted to gray"
    else:
        values = apply_modality_lut(arr, ds)
        if window is not None:
            center, width, function = window
            display = _window(values, center, width, function.upper())
            windowing = f"window C {center:g} / W {width:g} (requested)"
        elif ds.get("VOILUTSequence"):
            voi = apply_voi(arr if np.issubdtype(arr.dtype, np.integer) else values, ds, index=0)
            depth = int(ds.VOILUTSequence[0].LUTDescriptor[2])
            display = np.clip(voi.astype(np.float64) / float(2**depth - 1), 0, 1)
            windowing = "VOI LUT"
        elif "WindowCenter" in ds and "WindowWidth" in ds:
            center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
            function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
            if width <= 0:
                display, windowing = _minmax(values), "full range (invalid window)"
            else:
                display = _window(values, center, width, function)
                windowing = f"window C {center:g} / W {width:g}"
        else:
            display, windowing = _minmax(values), "full range"
        if photometric == "MONOCHROME1":
            display = 1.0 - display
    display = np.ascontiguousarray(display, dtype=np.float32)
    if not np.all(np.isfinite(display)):
        raise DecodeError("The DICOM pixel data contain invalid values.")
    return DecodedImage(
        display=display,
        format="dicom",
        width=int(display.shape[1]),
        height=int(display.shape[0]),
        frames=frames,
        modality=str(ds.get("Modality", "") or "")[:16],
        body_part=str(ds.get("BodyPartExamined", "") or "")[:64],
        study_date=_study_date(ds.get("StudyDate")),
        photometric=photometric,
        windowing=windowing,
    )


def _minmax(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.float64)
    lo, hi = float(np.min(v)), float(np.max(v))
    if hi <= lo:
        return np.zeros(v.shape, dtype=np.float32)
    return ((v - lo) / (hi - lo)).astype(np.float32)


def decode(data: bytes, fmt: str) -> DecodedImage:
    if fmt == "dicom":
        return decode_dicom(data)
    if fmt in ("png", "jpeg"):
        return decode_raster(data, fmt)
    raise DecodeError(f"Unsupported format {fmt!r}.")
