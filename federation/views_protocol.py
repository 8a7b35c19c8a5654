"""Protocol endpoints a machine calls: the witness (c2sp.org/tlog-witness add-checkpoint) and
the signed node card. No session and no CSRF token: add-checkpoint is authenticated by the
log's signature on the checkpoint, and the card by its own signatures."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt

from federation import card, witness
from ledger.witness_protocol import CONTENT_TYPE_TEXT, MAX_BODY
from portal.client_ip import client_ip
from portal.throttle import throttle_allow

CARD_MAX_AGE = 300


def _plain(status: int, message: str, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type=CONTENT_TYPE_TEXT, headers=headers)


@csrf_exempt
def add_checkpoint(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _plain(405, "add-checkpoint takes a POST (c2sp.org/tlog-witness)", {"Allow": "POST"})
    if not throttle_allow(
        scope="witness-add-checkpoint",
        ident=client_ip(request) or "unknown",
        limit=settings.FEDERATION_WITNESS_PER_MINUTE,
        window=60,
    ):
        return _plain(
            429,
            "too many add-checkpoint requests from your address; try again in a minute",
            {"Retry-After": "60"},
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:  # refused before Django reads it into memory
        return _plain(400, f"the request body is larger than {MAX_BODY} bytes")
    answer = witness.add_checkpoint(request.body)
    return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)


def node_card(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return _plain(405, "the node card is read with GET", {"Allow": "GET, HEAD"})
    response = HttpResponse(card.signed_card(), content_type=CONTENT_TYPE_TEXT)
    patch_cache_control(response, public=True, max_age=CARD_MAX_AGE)
    return response
