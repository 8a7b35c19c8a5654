"""`GET /network/directory`: this node's clinicians as a signed note (federation.directory), for
its peers to sync. Public like the node card: its signatures, checked with the log keys a
peer trusts, are what make it worth anything."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from federation import directory
from ledger.witness_protocol import CONTENT_TYPE_TEXT


def clinician_directory(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(
            "the clinician directory is read with GET\n",
            status=405,
            content_type=CONTENT_TYPE_TEXT,
            headers={"Allow": "GET, HEAD"},
        )
    response = HttpResponse(directory.signed_directory(), content_type=CONTENT_TYPE_TEXT)
    patch_cache_control(response, no_cache=True)
    return response
