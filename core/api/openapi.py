"""OpenAPI pieces every app's API shares: the problem+json responses and examples
(`problems`, `problem_example`, `PROBLEM_EXAMPLES`) and the common parameters (`PAGE`, `RETRY_AFTER`)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from core.api.errors import PROBLEM, TITLES


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, as every API error is answered."""

    type = serializers.CharField(default="about:blank")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(required=False, help_text="Field errors of a 400.")
    error = serializers.CharField(required=False, help_text="Legacy copy of detail (upload only).")
    code = serializers.CharField(required=False, help_text="Machine-readable reason (upload only).")


def problem_example(status: int, detail: str, name: str | None = None) -> OpenApiExample:
    return OpenApiExample(
        name or f"{status} {TITLES.get(status, 'Error')}",
        value={
            "type": "about:blank",
            "title": TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
        },
        response_only=True,
        status_codes=[str(status)],
        media_type=PROBLEM,
    )


def problems(*codes: int) -> dict:
    """`responses` entries for the given error statuses, all application/problem+json."""
    descriptions = {
        400: "Invalid parameter.",
        401: "No or invalid credentials.",
        403: "Authenticated, but not allowed (missing scope, or the consent explains the refusal).",
        404: "No such resource, or it is hidden from you.",
        409: "The resource is not in a state that allows this yet.",
        413: "Upload too large.",
        415: "Unsupported file type.",
        429: "Too many requests; see Retry-After.",
        503: "Storage unavailable; try again later.",
    }
    return {(c, PROBLEM): OpenApiResponse(ProblemSerializer, description=descriptions[c]) for c in codes}


PROBLEM_EXAMPLES = [
    problem_example(401, "Authentication credentials were not provided."),
    problem_example(403, "This token lacks the scope scans:read."),
    problem_example(404, "No such patient or scan, or you have no access to it."),
]

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds to wait before retrying.",
)
PAGE = OpenApiParameter("page", int, description="Page number (50 rows a page); see next/previous.")
