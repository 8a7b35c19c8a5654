"""The scan page's "Simulated NEQR layer" box: the NEQR cipher image of a layered preview.

`imaging.pipeline.read_object` removes the layer after AES-256-GCM decryption, so the cipher
image comes from `imaging.pipeline.decrypt_object`, the step before (key unwrapped for the
reader, blob fetched and its SHA-256 checked, envelope decrypted). The view is decided by the same policy call
as the scan page (``view`` on the scan, recorded): the cipher image is derived from patient
data, so it is shown only to those who may see the preview itself, and only with their own
key wrap.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from crypto import envelope
from imaging import neqr_layer
from imaging.models import ObjectKind, ScanObject
from imaging.pipeline import decrypt_object
from imaging.storage import BlobCorrupted, BlobNotFound, StorageError

log = logging.getLogger(__name__)


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


@login_required
@require_GET
def cipher_image(request, scan_id):
    """PNG of the SIMULATED NEQR cipher image of the scan's preview (same access as the preview)."""
    from imaging.views import _scan_or_404
    from portal.keys import KeyAccessError

    scan = _scan_or_404(request, scan_id)
    if not scan.neqr_layer:
        raise Http404("This scan was not uploaded with the simulated NEQR layer.")
    obj = ScanObject.objects.filter(scan=scan, kind=ObjectKind.PREVIEW).order_by("-version").first()
    if obj is None:
        raise Http404("This scan has no preview yet (processing is not finished).")
    try:
        layered = decrypt_object(obj, reader=request.user)
    except KeyAccessError:
        raise PermissionDenied(
            "You hold no decryption key for this scan's images (consent may have changed)."
        ) from None
    except (BlobCorrupted, envelope.IntegrityError):
        log.warning("integrity failure reading the NEQR layer of scan %s", scan.pk)
        return _text("The stored preview failed its integrity check; it is not shown.", 409)
    except BlobNotFound:
        raise Http404("The stored preview is missing from storage.") from None
    except StorageError:
        return _text("Storage is unavailable right now; try again in a few minutes.", 503)
    if not neqr_layer.is_layered(layered):
        raise Http404("The stored preview carries no NEQR layer.")
    try:
        png = neqr_layer.cipher_image_png(layered)
    except neqr_layer.NeqrLayerError:
        log.warning("malformed NEQR layer in the preview of scan %s", scan.pk)
        return _text("The NEQR layer of the stored preview is malformed; it is not shown.", 409)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
