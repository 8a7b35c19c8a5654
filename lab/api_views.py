"""REST API of the quantum lab: start runs, poll them, fetch the figure."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ApiError
from core.api.openapi import problems
from lab import selectors
from lab.permissions import authorize_run, can_use_lab
from lab.serializers import RunCreateSerializer, RunDetailSerializer, RunPageSerializer
from lab.services import LabError, lab_run_start

TAGS = ["quantum lab"]


def _require_lab(request) -> None:
    if not can_use_lab(request.user):
        raise ApiError("The quantum lab is for clinicians, auditors and administrators.", 403)


def _run_or_404(request, run_id):
    """The caller's own run; one made from a scan only while the policy lets them view that
    scan (decided and recorded like viewing it; refused like imaging's API refuses the scan)."""
    run = selectors.run_of(request.user, run_id)
    if run is None:
        raise ApiError("No such lab run.", 404)
    decision = authorize_run(user=request.user, run=run)
    if decision is not None and not decision.allowed:
        raise ApiError(decision.message, decision.status_code or 403)
    return run


def detail_of(run) -> dict:
    data = selectors.status_of(run)
    data["result"] = run.result
    data["comparison"] = (run.result or {}).get("comparison", [])
    return data


class RunListCreate(APIView):
    required_scopes = {"GET": ["lab:read"], "POST": ["lab:write"]}

    @extend_schema(
        responses={200: RunPageSerializer, **problems(403)},
        operation_id="lab_runs_list",
        summary="Your quantum-lab runs, newest first (simulations)",
        tags=TAGS,
    )
    def get(self, request):
        _require_lab(request)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.listed_runs_of(request.user), request, view=self)
        return paginator.get_paginated_response([selectors.status_of(r) for r in page])

    @extend_schema(
        request=RunCreateSerializer,
        responses={202: RunDetailSerializer, **problems(400, 403)},
        examples=[
            OpenApiExample(
                "BB84 with an eavesdropper on every qubit",
                value={"tool": "bb84", "params": {"qubits": 4000, "eve": 1.0, "seed": 7}},
                request_only=True,
            )
        ],
        summary="Start a simulation run (202; poll the status URL)",
        tags=TAGS,
    )
    def post(self, request):
        _require_lab(request)
        ser = RunCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        try:
            run = lab_run_start(
                user=request.user, tool=ser.validated_data["tool"], params=ser.validated_data["params"]
            )
        except LabError as exc:
            raise ApiError(exc.message, exc.status_code) from None
        return Response(RunDetailSerializer(detail_of(run)).data, status=status.HTTP_202_ACCEPTED)


class RunDetail(APIView):
    required_scopes = {"GET": ["lab:read"]}

    @extend_schema(
        responses={200: RunDetailSerializer, **problems(403, 404)},
        operation_id="lab_runs_retrieve",
        summary="One run: status, progress, result and measured-vs-ideal table",
        tags=TAGS,
    )
    def get(self, request, run_id):
        _require_lab(request)
        run = _run_or_404(request, run_id)
        response = Response(RunDetailSerializer(detail_of(run)).data)
        if run.uses_scan:
            response["Cache-Control"] = "private, no-store"
        return response


class RunFigure(APIView):
    required_scopes = {"GET": ["lab:read"]}

    @extend_schema(
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            **problems(403, 404),
        },
        operation_id="lab_runs_figure",
        summary="The run's matplotlib figure (PNG)",
        tags=TAGS,
    )
    def get(self, request, run_id):
        _require_lab(request)
        run = _run_or_404(request, run_id)
        if not run.figure_png:
            raise ApiError("This run has no figure yet.", 404)
        response = HttpResponse(run.figure_bytes(), content_type="image/png")
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response
