"""The WSGI application (gunicorn: `portal.wsgi:application`).

A request to /api/ that carries a bearer token and no cookie is a third-party system's call: it
has no session, CSRF token, second factor, flash message, time-zone choice or login attempt to
handle, so it runs through `API_MIDDLEWARE` (settings: `MIDDLEWARE` less those parts, every
security header kept). That was a fifth of the CPU of an authorized API read under load. Every
other request, a browser's included, runs through `MIDDLEWARE`. DRF authenticates the call
itself on both paths (tests/portal/test_wsgi.py compares their answers).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
portal_handler = get_wsgi_application()

from django.conf import settings  # noqa: E402 - after get_wsgi_application's setup
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.urls import get_resolver  # noqa: E402


class ApiHandler(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE: this handler's from API_MIDDLEWARE
        # (once, at import, before any request is served)
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


api_handler = ApiHandler()
# the URL patterns, and with them every view module, load now rather than on the first request:
# a gunicorn worker then freezes them with the rest of the application (gunicorn.conf.py)
url_patterns = get_resolver().url_patterns


def is_bearer_api_call(environ: dict) -> bool:
    return (
        environ.get("PATH_INFO", "").startswith("/api/")
        and "HTTP_COOKIE" not in environ
        and environ.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer "
    )


def application(environ, start_response):
    handler = api_handler if is_bearer_api_call(environ) else portal_handler
    return handler(environ, start_response)
