"""c2sp.org/tlog-tiles read endpoints of this node's log, under /tlog/: the newest checkpoint,
Merkle tree tiles and entry bundles, public and cacheable (full tiles never change)."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_safe

from federation import tiles_selectors
from ledger import tiles

FULL_CACHE = "public, max-age=31536000, immutable"
PARTIAL_CACHE = "public, max-age=60"  # the full tile replaces it once the tree grows
OCTETS = "application/octet-stream"


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


@require_safe
def checkpoint(request):
    note = tiles_selectors.checkpoint_note()
    if note is None:
        return _text(404, "no checkpoint has been signed yet")
    resp = HttpResponse(note, content_type="text/plain; charset=utf-8")
    resp["Cache-Control"] = "no-cache"
    return resp


def _serve(path: str) -> HttpResponse:
    try:
        tp = tiles.parse_tile_path(path)
    except ValueError as exc:
        return _text(400, f"malformed tile path: {exc}")
    if tp.level is None:
        data = tiles_selectors.entry_bundle(tp.index, tp.width)
    else:
        data = tiles_selectors.hash_tile(tp.level, tp.index, tp.width)
    if data is None:
        return _text(404, f"{tp.path} is beyond the tree")
    resp = HttpResponse(data, content_type=OCTETS)
    resp["Cache-Control"] = FULL_CACHE if tp.width is None else PARTIAL_CACHE
    return resp


@require_safe
def tile(request, rest: str):
    """`/tlog/tile/<L>/<N>[.p/<W>]` (hashes of Merkle tree level 8L) and
    `/tlog/tile/entries/<N>[.p/<W>]` (u16-length-prefixed leaf data of up to 256 entries)."""
    return _serve(f"tile/{rest}")
