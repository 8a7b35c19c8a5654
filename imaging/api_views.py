"""REST API of the imaging app: upload (202 + status URL) and status polling."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from imaging import selectors, services
from imaging.permissions import authorize, decision_message
from imaging.validation import UploadRejected
from portal.api.errors import problem
from portal.models import Role, User


class UploadSerializer(serializers.Serializer):
    patient = serializers.UUIDField(help_text="id of the patient the scan belongs to")
    file = serializers.FileField(help_text="DICOM, PNG or JPEG (type checked by content)")


class ScanStatusSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    progress = serializers.IntegerField()
    done = serializers.BooleanField()
    failed = serializers.BooleanField()
    failure_reason = serializers.CharField(allow_blank=True)
    status_url = serializers.CharField()
    page_url = serializers.CharField()
    updated_at = serializers.CharField()
    diagnosis = serializers.DictField(required=False)
    pixel_sha256 = serializers.CharField(required=False)
    ledger_event_id = serializers.UUIDField(required=False, allow_null=True)


def _error(message: str, code: str, http_status: int) -> Response:
    """RFC 9457 problem details; `error` and `code` kept for existing clients."""
    response = problem(http_status, message)
    response.data.update({"error": message, "code": code})
    return response


_ERRORS = {s: OpenApiResponse(description="problem+json") for s in (400, 403, 404, 413, 415)}


class ScanUploadView(APIView):
    parser_classes = [MultiPartParser, FormParser]
    required_scopes = {"POST": ["scans:write"]}

    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        responses={202: ScanStatusSerializer, **_ERRORS},
        summary="Upload a scan (202 + status URL)",
        tags=["scans"],
    )
    def post(self, request):
        ser = UploadSerializer(data=request.data)
        if not ser.is_valid():
            first = next(iter(ser.errors.items()))
            return _error(f"{first[0]}: {' '.join(str(e) for e in first[1])}", "invalid_request", 400)
        patient = User.objects.filter(pk=ser.validated_data["patient"], role=Role.PATIENT).first()
        if patient is None:
            return _error("No such patient, or you may not upload for them.", "forbidden", 403)
        decision = authorize(actor=request.user, action="upload", patient=patient)
        if not decision.allowed:
            return _error(decision_message(decision, "upload"), "forbidden", 403)
        try:
            scan = services.scan_upload(
                uploader=request.user, patient=patient, file=ser.validated_data["file"]
            )
        except UploadRejected as exc:
            return _error(exc.message, exc.code, exc.status)
        body = selectors.status_of(scan)
        resp = Response(body, status=status.HTTP_202_ACCEPTED)
        resp["Location"] = body["status_url"]
        return resp


class ScanStatusView(APIView):
    required_scopes = ["scans:read"]

    @extend_schema(
        responses={200: ScanStatusSerializer, **_ERRORS},
        summary="Processing status of a scan",
        tags=["scans"],
    )
    def get(self, request, scan_id):
        scan = selectors.scan_by_id(scan_id)
        if scan is None:
            return _error("Scan not found.", "not_found", 404)
        decision = authorize(actor=request.user, action="view", patient=scan.patient, scan=scan, record=False)
        if not decision.allowed:
            return _error(decision_message(decision, "view"), "not_found", 404)
        return Response(selectors.status_of(scan))
