"""RFC 9457 problem details for every API error."""

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

PROBLEM = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    429: "Too many requests",
}


class ApiError(exceptions.APIException):
    """Raise from services/views with a status and a message a person understands."""

    def __init__(self, detail: str, status_code: int = 400):
        super().__init__(detail)
        self.status_code = status_code


def problem(status_code: int, detail, *, errors=None, headers=None, title: str | None = None) -> Response:
    body = {
        "type": "about:blank",
        "title": title or TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    response = Response(body, status=status_code, headers=headers)
    response.content_type = PROBLEM
    return response


def body_refusal(exc: SuspiciousOperation) -> tuple[int, str]:
    """Status and message for a request body Django refused while reading it."""
    from django.conf import settings

    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return 413, f"The request body is too large (the limit for form and JSON data is {limit:,} bytes)."
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return 400, f"The request has too many fields (the limit is {limit:,})."
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return 400, f"The request has too many files (the limit is {limit:,})."
    return 400, "The request could not be read."


def problem_exception_handler(exc, context):
    if isinstance(exc, SuspiciousOperation):
        return problem(*body_refusal(exc))
    if isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django's handler logs it and answers 500
    data = response.data
    errors = None
    if isinstance(exc, exceptions.ValidationError):
        detail = "The request has invalid fields; see errors."
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        if isinstance(data, list) and len(data) == 1:
            detail = str(data[0])
    elif isinstance(data, dict) and "detail" in data:
        detail = str(data["detail"])
    else:
        detail = str(data)
    headers = {k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")}
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS and "Retry-After" not in headers:
        headers["Retry-After"] = "60"
    # an exception may name its own problem title (e.g. federation.api_auth's refusals)
    title = getattr(exc, "problem_title", None)
    return problem(response.status_code, detail, errors=errors, headers=headers, title=title)
