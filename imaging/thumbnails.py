"""Small thumbnails of a scan's encrypted preview, for the lists and pickers that name scans
(issue #25 item 3); the label beside them is imaging.consent_port.scan_label.

A thumbnail is decrypted with the reader's own key wrap, exactly like the scan page's preview,
so a reader without consent gets no picture; the caller (imaging.thumb_views) decides first
through the policy decision point.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from PIL import Image

from crypto import envelope
from imaging.models import ObjectKind, Scan, ScanObject
from imaging.pipeline import read_object
from imaging.storage import BlobCorrupted, BlobNotFound, StorageError

log = logging.getLogger(__name__)

SIZE = 96  # pixels, the longer side


@dataclass
class Thumbnail:
    status: int = 200
    message: str = ""
    png: bytes = b""


def thumbnail_for(scan: Scan, *, reader) -> Thumbnail:
    from portal.keys import KeyAccessError

    obj = ScanObject.objects.filter(scan=scan, kind=ObjectKind.PREVIEW).order_by("-version").first()
    if obj is None:
        return Thumbnail(404, "This scan has no preview yet.")
    try:
        preview = read_object(obj, reader=reader)
    except KeyAccessError:
        return Thumbnail(403, "You hold no decryption key for this scan's images.")
    except (BlobCorrupted, envelope.IntegrityError, ValueError):
        log.warning("integrity failure reading the preview of scan %s for a thumbnail", scan.pk)
        return Thumbnail(409, "The stored preview failed its integrity check.")
    except BlobNotFound:
        return Thumbnail(404, "The stored preview is missing from storage.")
    except StorageError:
        return Thumbnail(503, "Storage is unavailable right now.")
    img = Image.open(io.BytesIO(preview))
    img.thumbnail((SIZE, SIZE))
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return Thumbnail(png=out.getvalue())
