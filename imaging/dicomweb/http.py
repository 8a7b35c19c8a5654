"""HTTP plumbing of DICOMweb: cross-origin headers, Accept negotiation and bounded bodies.

Cross-origin: a browser viewer served by the portal itself needs nothing; one on another
origin is allowed only when that origin is in ``QMC_DICOMWEB_CORS_ORIGINS`` (none by default),
and then only with a bearer token (no cookies: credentials are not allowed cross-origin).
Every response carries COOP/COEP (a viewer that decodes with WebAssembly threads runs
cross-origin isolated) and CORP same-origin, and is never cached.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse

from core.api.errors import ApiError
from imaging.dicom.multipart import media_type_params

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Accept, Content-Type, X-Purpose-Of-Use"
EXPOSED_HEADERS = "Warning, Content-Type, Content-Length, Content-Location, ETag"
READ_SIZE = 1 << 20


def allowed_origin(request) -> str | None:
    origin = request.META.get("HTTP_ORIGIN", "")
    return origin if origin and origin in settings.QMC_DICOMWEB_CORS_ORIGINS else None


def is_preflight(request) -> bool:
    return request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META


def preflight(request) -> HttpResponse:
    """The answer to a CORS preflight: allowed for a listed origin, silent (no CORS headers,
    so the browser refuses) for any other."""
    response = HttpResponse(status=204)
    if allowed_origin(request):
        response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response["Access-Control-Max-Age"] = "600"
    return response


def decorate(request, response):
    """The headers every /dicomweb response carries."""
    origin = allowed_origin(request)
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    response["Vary"] = ", ".join(v for v in (response.get("Vary"), "Origin") if v)
    response["Cross-Origin-Opener-Policy"] = "same-origin"
    response["Cross-Origin-Embedder-Policy"] = "require-corp"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def accepts(request, media_type: str, *, multipart: bool = False) -> dict[str, str] | None:
    """The parameters of the Accept item that admits `media_type` (bare, or as the ``type`` of
    multipart/related when `multipart`), {} when there is no Accept header; None when the
    client accepts nothing of the kind."""
    header = request.META.get("HTTP_ACCEPT", "").strip()
    if not header:
        return {}
    family = media_type.split("/")[0] + "/*"
    for item in header.split(","):
        media, params = media_type_params(item)
        if media in ("*/*", "multipart/*"):
            return params
        if multipart and media == "multipart/related":
            if params.get("type", "*/*").lower() in ("*/*", media_type, family):
                return params
        elif not multipart and media in (media_type, family):
            return params
    return None


def require(request, media_type: str, *, multipart: bool = False) -> dict[str, str]:
    params = accepts(request, media_type, multipart=multipart)
    if params is None:
        shown = f'multipart/related; type="{media_type}"' if multipart else media_type
        raise ApiError(f"This resource is served as {shown}; the Accept header admits none of it.", 406)
    return params


def read_body(request, limit: int) -> bytes:
    """The request body, at most `limit` bytes (413 beyond, refused from Content-Length before
    reading when it says so). A chunked body is read only where the server marks its input as
    terminated (gunicorn); otherwise it cannot be told from an empty one, and is a 411."""
    too_large = ApiError(f"The request body is larger than the limit of {limit:,} bytes.", 413)
    meta = request.META
    length = meta.get("CONTENT_LENGTH") or ""
    if length.strip():
        try:
            declared = int(length)
        except ValueError:
            raise ApiError("The Content-Length header is not a number.", 400) from None
        if declared > limit:
            raise too_large
        stream = request
    elif "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        if not meta.get("wsgi.input_terminated"):
            raise ApiError("Send the body with a Content-Length; chunked bodies are not read here.", 411)
        stream = meta["wsgi.input"]
    else:
        return b""
    body = bytearray()
    while True:
        piece = stream.read(READ_SIZE)
        if not piece:
            return bytes(body)
        body += piece
        if len(body) > limit:
            raise too_large
