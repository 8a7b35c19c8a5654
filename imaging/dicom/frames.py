"""Frames of a DICOM instance as uncompressed pixel data (WADO-RS frames, PS3.18 8.3.5.1.2,
Explicit VR Little Endian) (pure module, no Django).

A native (uncompressed, little-endian) original is cut into its frames without decoding, so
the bytes are exactly the stored ones; any other transfer syntax is decoded with pydicom and
each frame is written out little-endian."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
NATIVE_LITTLE_ENDIAN = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"}
MAX_FRAMES_PER_REQUEST = 1000
_LIST = re.compile(r"\d{1,9}(,\d{1,9})*")


class FrameError(ValueError):
    """The frame list is malformed (400) or names a frame the instance does not have (404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def frame_count(ds: Any) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def parse_frame_list(text: str, count: int) -> list[int]:
    """1-based frame numbers of ``1,2,3`` (PS3.18 8.3.5.1.2), each checked against `count`."""
    text = text.strip()
    if not _LIST.fullmatch(text):
        raise FrameError("Frames are numbers from 1, separated by commas (e.g. frames/1,2,3).")
    numbers = [int(n) for n in text.split(",")]
    if len(numbers) > MAX_FRAMES_PER_REQUEST:
        raise FrameError(f"At most {MAX_FRAMES_PER_REQUEST} frames in one request.")
    if min(numbers) < 1:
        raise FrameError("Frames are numbered from 1.")
    for n in numbers:
        if n > count:
            raise FrameError(f"The instance has no frame {n} (it has {count}).", status=404)
    return numbers


def _transfer_syntax(ds: Any) -> str:
    meta = getattr(ds, "file_meta", None)
    return str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""


def frame_bytes(ds: Any, number: int) -> bytes:
    """The uncompressed pixel data of frame `number` (1-based) of a data set read with its
    pixel data. ValueError when the data set has none or it cannot be decoded."""
    from pydicom.pixels.utils import get_expected_length, pixel_array

    if "PixelData" not in ds:
        raise ValueError("the instance has no (integer) pixel data")
    count = frame_count(ds)
    bits = int(ds.get("BitsAllocated") or 0)
    if _transfer_syntax(ds) in NATIVE_LITTLE_ENDIAN and bits and bits % 8 == 0:
        size = int(get_expected_length(ds, unit="bytes")) // count
        data = ds.PixelData
        if len(data) < size * count:
            raise ValueError("the pixel data are shorter than the image header says")
        return bytes(data[(number - 1) * size : number * size])
    arr = pixel_array(ds, index=number - 1, raw=True) if count > 1 else ds.pixel_array
    arr = np.ascontiguousarray(arr)
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
