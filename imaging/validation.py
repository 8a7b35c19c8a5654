"""Upload validation by content (pure module, no Django).

`inspect_upload(data, ...)` decides whether uploaded bytes are a scan we accept, *before*
anything is stored. Order of checks (cheapest first, and nothing is fully decoded until
the pixel count is known to be bounded):

1. size: empty files and files over ``max_bytes`` are refused;
2. type by content, never by file name: DICOM Part 10 (``DICM`` at offset 128), PNG
   (8-byte signature), JPEG (``FF D8 FF``). A declared content type, when given, must
   agree with the content (``application/octet-stream`` is accepted for all);
3. pixel count from the headers only -- PNG ``IHDR``, JPEG ``SOFn``, DICOM
   Rows x Columns x NumberOfFrames x SamplesPerPixel (read with ``stop_before_pixels``)
   -- so a decompression bomb (e.g. a 30000 x 30000 PNG of a few kilobytes) is refused
   without being inflated;
4. DICOM must carry pixel data (Pixel Data, Float / Double Float Pixel Data);
5. structurally complete (PNG ends with ``IEND``, JPEG has an ``EOI`` marker) and
   decodable: the first frame is decoded with the same code the pipeline uses.

Every refusal raises `UploadRejected` with a message written for the person uploading and
an HTTP status (400 malformed, 413 too large, 415 unsupported type).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
DICOM_MAGIC_OFFSET = 128
DICOM_MAGIC = b"DICM"

FORMATS = ("dicom", "png", "jpeg")
# declared content types that agree with each format (browsers send octet-stream for .dcm)
CONTENT_TYPES = {
    "dicom": {"application/dicom", "application/dicom+octet-stream"},
    "png": {"image/png", "image/x-png"},
    "jpeg": {"image/jpeg", "image/jpg", "image/pjpeg"},
}
GENERIC_CONTENT_TYPES = {"", "application/octet-stream", "binary/octet-stream"}

# JPEG start-of-frame markers: C0-CF except C4 (DHT), C8 (JPG extension), CC (DAC)
_SOF_MARKERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class UploadRejected(Exception):
    """The upload is refused; `message` is shown to the person who uploaded it."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Inspection:
    format: str  # dicom / png / jpeg
    size: int
    width: int
    height: int
    frames: int = 1
    samples: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height * self.frames * self.samples


def sniff_format(head: bytes) -> str | None:
    """'dicom' / 'png' / 'jpeg' from the first bytes, or None."""
    if (
        len(head) >= DICOM_MAGIC_OFFSET + 4
        and head[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] == DICOM_MAGIC
    ):
        return "dicom"
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(JPEG_SIGNATURE):
        return "jpeg"
    return None


def _check_content_type(fmt: str, declared: str | None) -> None:
    if declared is None:
        return
    ctype = declared.split(";", 1)[0].strip().lower()
    if ctype in GENERIC_CONTENT_TYPES or ctype in CONTENT_TYPES[fmt]:
        return
    raise UploadRejected(
        f"The file was sent as “{ctype[:60]}” but its content is a {fmt.upper()} image. "
        "Send it as application/octet-stream or as its real type.",
        status=415,
        code="content_type_mismatch",
    )


def png_dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which must come first (PNG spec 5.6)."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise UploadRejected("The PNG file is damaged: its header (IHDR) is missing.", code="corrupt")
    length = struct.unpack(">I", data[8:12])[0]
    if length != 13:
        raise UploadRejected("The PNG file is damaged: its header (IHDR) has the wrong size.", code="corrupt")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def jpeg_dimensions(data: bytes) -> tuple[int, int, int]:
    """(width, height, components) from the first SOFn segment, walking the marker segments."""
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise UploadRejected("The JPEG file is damaged: a marker segment is malformed.", code="corrupt")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:  # standalone markers
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            break
        seg_len = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if seg_len < 2:
            break
        if marker in _SOF_MARKERS:
            if pos + 10 > n:
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            components = data[pos + 9]
            return width, height, components
        pos += 2 + seg_len
    raise UploadRejected("The JPEG file is damaged: it has no frame header (SOF).", code="corrupt")


def read_dicom_header(data: bytes):
    """The DICOM data set without pixel data (pydicom), or UploadRejected."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, struct.error, OSError) as exc:
        raise UploadRejected(
            f"The DICOM file could not be read ({type(exc).__name__}).", code="corrupt"
        ) from exc


def dicom_has_pixel_data(data: bytes) -> bool:
    import pydicom

    # defer_size keeps large values (the pixel data) unread: only presence is checked here
    try:
        ds = pydicom.dcmread(io.BytesIO(data), defer_size="1 KB")
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged files
        raise UploadRejected(
            f"The DICOM file could not be read ({type(exc).__name__}).", code="corrupt"
        ) from exc
    return any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


def _int(value, default: int = 0) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def inspect_header(
    data: bytes, *, max_bytes: int, max_pixels: int, content_type: str | None = None
) -> Inspection:
    """Checks 1-4 (no full decode). Returns what the headers say."""
    size = len(data)
    if size == 0:
        raise UploadRejected("The file is empty (0 bytes).", code="empty")
    if size > max_bytes:
        raise UploadRejected(
            f"The file is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB.",
            status=413,
            code="too_large",
        )
    fmt = sniff_format(data[:256])
    if fmt is None:
        raise UploadRejected(
            "This is not a DICOM, PNG or JPEG image (the type is checked from the content, not the file name).",
            status=415,
            code="unsupported_type",
        )
    _check_content_type(fmt, content_type)

    frames = samples = 1
    if fmt == "png":
        width, height = png_dimensions(data)
    elif fmt == "jpeg":
        width, height, samples = jpeg_dimensions(data)
    else:
        ds = read_dicom_header(data)
        width, height = _int(ds.get("Columns")), _int(ds.get("Rows"))
        frames = max(1, _int(ds.get("NumberOfFrames"), 1))
        samples = max(1, _int(ds.get("SamplesPerPixel"), 1))
        if not dicom_has_pixel_data(data):
            raise UploadRejected(
                "The DICOM file has no pixel data (it may be a report, a structured document or a plan).",
                status=400,
                code="no_pixel_data",
            )
    if width <= 0 or height <= 0:
        raise UploadRejected("The image header gives no width or height.", code="corrupt")
    insp = Inspection(format=fmt, size=size, width=width, height=height, frames=frames, samples=samples)
    if insp.pixels > max_pixels:
        raise UploadRejected(
            f"The image is too large to process: {width} × {height}"
            + (f" × {frames} frames" if frames > 1 else "")
            + f" = {insp.pixels:,} pixels (limit {max_pixels:,}).",
            status=413,
            code="too_many_pixels",
        )
    return insp


def check_complete(fmt: str, data: bytes) -> None:
    """Truncation checks that decoders do not always report (libjpeg pads a truncated scan)."""
    if fmt == "png" and b"IEND" not in data[-64:]:
        raise UploadRejected(
            "The PNG file is truncated (it does not end with an IEND chunk).", code="truncated"
        )
    if fmt == "jpeg" and b"\xff\xd9" not in data[-4096:]:
        raise UploadRejected("The JPEG file is truncated (no end-of-image marker).", code="truncated")


def inspect_upload(data: bytes, *, max_bytes: int, max_pixels: int, content_type: str | None = None):
    """All checks, including a full decode of the first frame. Returns (Inspection, DecodedImage)."""
    from imaging.decode import DecodeError, decode

    insp = inspect_header(data, max_bytes=max_bytes, max_pixels=max_pixels, content_type=content_type)
    check_complete(insp.format, data)
    try:
        decoded = decode(data, insp.format)
    except DecodeError as exc:
        raise UploadRejected(str(exc), code="undecodable") from exc
    return insp, decoded
