"""Error pages (urls.handler400): a request Django refused while reading its body (too large,
too many fields, a malformed multipart, a refused file name) gets a friendly page, or
problem+json under /api/."""

from __future__ import annotations

from django.core.exceptions import SuspiciousOperation
from django.http import JsonResponse
from django.shortcuts import render

from core.api.errors import PROBLEM, TITLES, body_refusal
from core.uploads import UnsafeFileName


def bad_request(request, exception=None):
    if isinstance(exception, SuspiciousOperation):
        status, detail = body_refusal(exception)
    elif isinstance(exception, UnsafeFileName):
        status, detail = 400, exception.user_message
    else:
        status, detail = 400, "The request could not be read."
    if request.path.startswith("/api/"):
        body = {"type": "about:blank", "title": TITLES[status], "status": status, "detail": detail}
        return JsonResponse(body, status=status, content_type=PROBLEM)
    return render(request, "400.html", {"detail": detail}, status=status)


def permission_denied(request, exception=None):
    """403: what was refused and, for a refusal on patient data (portal.refusals.Refused),
    when it happened and what to do next; problem+json under /api/."""
    message = getattr(exception, "message", "") or (str(exception) if exception else "")
    message = message or "You are not allowed to see this page."
    if request.path.startswith("/api/"):
        body = {"type": "about:blank", "title": TITLES[403], "status": 403, "detail": message}
        return JsonResponse(body, status=403, content_type=PROBLEM)
    return render(request, "403.html", {"message": message, "refusal": exception}, status=403)
