"""The client's network address, for lock-out and throttles.

``QMC_TRUSTED_PROXY_COUNT`` (default 0) says how many reverse proxies of ours stand in front
of Django. With 0, X-Forwarded-For is ignored (anyone can send it) and the address is
REMOTE_ADDR. With N, each of our proxies appended one entry, so the client is the entry N
hops from the right; entries further left were written by the client and are never read.
This is the same rule as DRF's ``NUM_PROXIES``, which settings.py sets to the same count so
the API throttles agree.
"""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.QMC_TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count <= 0 or not forwarded.strip():
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    candidate = hops[-min(count, len(hops))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:  # a proxy of ours would not write that: don't trust it
        return remote
