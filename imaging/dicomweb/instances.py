"""The content of one instance (scan) for one reader: DICOM bytes, metadata, frames, rendered.

Every read decrypts the stored original per request with the key wrapped for that reader
(imaging.pipeline.read): the whole instance is streamed from the envelope chunk by chunk;
metadata, frames and rendered images are made in memory. Nothing is written to disk in
plain form. A DICOM upload is served as its exact bytes; a PNG/JPEG upload as the secondary
capture it is (imaging.dicom.secondary_capture), made on each request.

The caller has already had the policy allow the read (imaging.dicomweb.selectors).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pydicom
from pydicom.errors import InvalidDicomError

from core.api.errors import ApiError
from crypto import envelope
from imaging.decode import DecodeError, decode_dicom, decode_raster
from imaging.dicom import frames as dicom_frames
from imaging.dicom import json_model, render
from imaging.dicom.frames import EXPLICIT_VR_LITTLE_ENDIAN, FrameError
from imaging.dicom.identity import InstanceIdentity
from imaging.dicom.secondary_capture import RasterError, wrap_raster
from imaging.models import ObjectKind, Scan, ScanObject
from imaging.neqr_layer import NeqrLayerError
from imaging.pipeline import decrypt_object, read_object, stream_object
from imaging.storage import BlobCorrupted, BlobNotFound, StorageError, StorageUnavailable
from portal.keys import KeyAccessError

log = logging.getLogger(__name__)


@contextmanager
def reading(scan: Scan) -> Iterator[None]:
    """Storage, key and decoding failures as problems a client understands."""
    try:
        yield
    except KeyAccessError:
        raise ApiError(
            "You hold no decryption key for this instance (the consent may have changed).", 403
        ) from None
    except (BlobCorrupted, envelope.IntegrityError, NeqrLayerError):
        log.warning("integrity failure serving scan %s over DICOMweb", scan.pk)
        raise ApiError("The stored instance failed its integrity check; it is not served.", 409) from None
    except BlobNotFound:
        raise ApiError("The stored instance is missing from storage.", 404) from None
    except StorageUnavailable:
        raise ApiError("Storage is unavailable right now; try again in a few minutes.", 503) from None
    except StorageError:
        raise ApiError("The stored instance could not be read.", 503) from None
    except FrameError as exc:
        raise ApiError(exc.message, exc.status) from None
    except (DecodeError, RasterError, render.RenderError) as exc:
        raise ApiError(f"The instance cannot be rendered: {exc}", 409) from None
    except (InvalidDicomError, ValueError, KeyError, TypeError, AttributeError, EOFError):
        log.warning("scan %s could not be read as DICOM over DICOMweb", scan.pk)  # no values in logs
        raise ApiError("The stored instance could not be read as DICOM.", 409) from None


def _original(scan: Scan) -> ScanObject:
    obj = ScanObject.objects.filter(scan=scan, kind=ObjectKind.ORIGINAL).order_by("-version").first()
    if obj is None:
        raise ApiError("The stored instance is missing.", 404)
    return obj


def identity_of(scan: Scan) -> InstanceIdentity:
    series = scan.series
    return InstanceIdentity(
        study_uid=series.study.study_instance_uid,
        series_uid=series.series_instance_uid,
        sop_instance_uid=scan.sop_instance_uid,
        sop_class_uid=scan.sop_class_uid,
        modality=series.modality,
        series_number=series.series_number,
        instance_number=scan.instance_number,
        study_date=series.study.study_date,
        generated=series.study.generated_uids,
    )


def transfer_syntax(scan: Scan) -> str:
    """The transfer syntax the instance is served in (the stored one for a DICOM upload)."""
    if scan.source_format != "dicom":
        return EXPLICIT_VR_LITTLE_ENDIAN
    return scan.transfer_syntax_uid or EXPLICIT_VR_LITTLE_ENDIAN


def dicom_bytes(scan: Scan, *, reader: Any) -> bytes:
    """The instance as DICOM Part 10 bytes."""
    data = decrypt_object(_original(scan), reader=reader)
    if scan.source_format == "dicom":
        return data
    return wrap_raster(data, identity_of(scan), study_date=scan.series.study.study_date)


def dicom_chunks(scan: Scan, *, reader: Any) -> Iterator[bytes]:
    """The instance as DICOM Part 10 bytes, in chunks: a DICOM upload straight from its
    envelope (key and ciphertext checked, first chunk decrypted before this returns)."""
    if scan.source_format == "dicom":
        return stream_object(_original(scan), reader=reader)
    return iter((dicom_bytes(scan, reader=reader),))


def dataset(scan: Scan, *, reader: Any, pixels: bool) -> Any:
    data = dicom_bytes(scan, reader=reader)
    return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=not pixels)


def metadata(scan: Scan, *, reader: Any) -> dict:
    """The instance's DICOM JSON without pixel data (every attribute of the file: a clinician's
    viewer shows them; a research purpose reads imaging.dicomweb.research instead)."""
    return json_model.metadata(dataset(scan, reader=reader, pixels=False))


def frames(scan: Scan, *, reader: Any, numbers: str) -> list[bytes]:
    """Uncompressed pixel data of the frames listed in `numbers` (``1,2``)."""
    ds = dataset(scan, reader=reader, pixels=True)
    wanted = dicom_frames.parse_frame_list(numbers, dicom_frames.frame_count(ds))
    return [dicom_frames.frame_bytes(ds, n) for n in wanted]


def rendered(
    scan: Scan,
    *,
    reader: Any,
    media_type: str,
    frame: int = 1,
    window: tuple[float, float, str] | None = None,
    viewport: tuple[int, int] | None = None,
    quality: int | None = None,
) -> bytes:
    """Frame `frame` (1-based) as a PNG or JPEG for display."""
    if not 1 <= frame <= scan.frames:
        raise FrameError(f"The instance has no frame {frame} (it has {scan.frames}).", status=404)
    data = decrypt_object(_original(scan), reader=reader)
    if scan.source_format == "dicom":
        display = decode_dicom(data, frame=frame - 1, window=window).display
    else:
        display = decode_raster(data, scan.source_format).display
    return render.encode(display, media_type, viewport=viewport, quality=quality)


def thumbnail(scan: Scan, *, reader: Any, media_type: str) -> bytes:
    """A small image of the instance: the pipeline's preview when it is a PNG that was asked
    for, else the first frame rendered into a 128-pixel square."""
    preview = ScanObject.objects.filter(scan=scan, kind=ObjectKind.PREVIEW).order_by("-version").first()
    if preview is not None and media_type == render.PNG:
        return read_object(preview, reader=reader)
    side = render.THUMBNAIL_SIDE
    return rendered(scan, reader=reader, media_type=media_type, viewport=(side, side))
