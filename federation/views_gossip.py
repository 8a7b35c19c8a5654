"""`GET /network/gossip/cosigned`: what this node cosigned last for each log it witnesses
(`federation.gossip`). Public: every note in it is signed by its log and by this witness."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control

from federation import gossip
from portal.client_ip import client_ip
from portal.throttle import throttle_allow


def _plain(status: int, message: str, **headers: str) -> HttpResponse:
    return HttpResponse(
        message + "\n", status=status, content_type="text/plain; charset=utf-8", headers=headers
    )


def cosigned(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return _plain(405, "the gossip list is read with GET", Allow="GET, HEAD")
    # the peers' monitors ask every FEDERATION_MONITOR_SECONDS: the witness endpoint's budget
    if not throttle_allow(
        scope="federation-gossip",
        ident=client_ip(request) or "unknown",
        limit=settings.FEDERATION_WITNESS_PER_MINUTE,
        window=60,
    ):
        return _plain(
            429, "too many gossip requests from your address; try again in a minute", **{"Retry-After": "60"}
        )
    response = JsonResponse(gossip.cosigned_list())
    patch_cache_control(response, no_cache=True)
    return response
