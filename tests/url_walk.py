"""Every URL pattern the project serves, for the tests that must cover them all."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver


def _walk(patterns, prefix="", namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace or namespace
            if namespace and p.namespace:
                ns = f"{namespace}:{p.namespace}"
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            yield prefix + str(p.pattern), name, p


def served() -> list[tuple[str, str | None, URLPattern]]:
    """(route, namespaced name, pattern) of every URL pattern, in resolver order."""
    return list(_walk(get_resolver().url_patterns))
