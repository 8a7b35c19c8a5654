"""X-Request-ID: each request gets an id, on its log lines and on its Celery tasks' (core.logs).

A well-formed X-Request-ID from the client (or from our reverse proxy, nginx's $request_id)
is kept, anything else is replaced by a new one; the response echoes it. First in the
middleware, so every later line of the request carries it.
"""

from __future__ import annotations

from django.core.signals import request_finished
from django.dispatch import receiver

from core.logs import new_request_id, request_id_var, valid_request_id

HEADER = "X-Request-ID"


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.META.get("HTTP_X_REQUEST_ID")
        request_id = offered if valid_request_id(offered) else new_request_id()
        request.request_id = request_id
        # set for the rest of the request, and reset when it has finished (request_finished):
        # Django logs 4xx/5xx responses ("Not Found: /x") after the middleware has returned
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished)
def _forget_request_id(**kwargs):
    request_id_var.set(None)
