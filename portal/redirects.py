"""The one check for redirect targets that come from a request (``?next=``, a form field)."""

from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, default: str) -> str:
    """The request's ``next`` (POST, then the query string) if it leads to this site, else
    `default` (a URL or a URL name).

    Anything with another host, a scheme other than http(s), a protocol-relative or
    backslash trick, or plain http on an https request falls back to `default`.
    """
    target = (request.POST.get("next") or request.GET.get("next") or "").strip()
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(default)
