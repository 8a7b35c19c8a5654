"""REST API of the imaging app: upload (202 + status URL) and status polling."""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from imaging import selectors, services
from imaging.permissions import authorize, decision_message
from imaging.validation import UploadRejected
from portal.models import Role, User


class UploadSerializer(serializers.Serializer):
    patient = serializers.UUIDField(help_text="id of the patient the scan belongs to")
    file = serializers.FileField(help_text="DICOM, PNG or JPEG (type checked by content)")


def _error(message: str, code: str, http_status: int) -> Response:
    return Response({"error": message, "code": code}, status=http_status)


class ScanUploadView(APIView):
    parser_classes = [MultiPartParser, FormParser]

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
    def get(self, request, scan_id):
        scan = selectors.scan_by_id(scan_id)
        if scan is None:
            return _error("Scan not found.", "not_found", 404)
        decision = authorize(actor=request.user, action="view", patient=scan.patient, scan=scan, record=False)
        if not decision.allowed:
            return _error(decision_message(decision, "view"), "not_found", 404)
        return Response(selectors.status_of(scan))
