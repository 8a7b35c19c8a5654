"""REST API of the imaging app: scans (list, upload, detail, status, diagnosis, original and
preview bytes) and the patients visible to the caller.

Every request on patient data is decided by the one policy decision point with the purpose
the caller declares (X-Purpose-Of-Use / ?purpose=, default TREAT) and recorded on the ledger
through imaging.permissions.authorize. Refusals keep the policy's status: 404 where
existence stays hidden, 403 where the patient's consent explains the refusal.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ApiError, problem
from core.api.openapi import PAGE, PROBLEM_EXAMPLES, RETRY_AFTER, problem_example, problems
from core.api.parsers import MultiPartParser
from crypto import envelope
from imaging import api_selectors, blobs, research, selectors, services
from imaging.models import ObjectKind, ScanStatus
from imaging.neqr_layer import NeqrLayerError
from imaging.permissions import authorize, decision_message
from imaging.pipeline import read_object
from imaging.serializers import (
    ETAG,
    IF_NONE_MATCH,
    NEQR_LAYER_NOTE,
    PATIENTS_EXAMPLE,
    SCAN_DETAIL_EXAMPLE,
    SCAN_LIST_EXAMPLE,
    DiagnosisSerializer,
    NeqrLayerSerializer,
    PatientSerializer,
    ScanDetailSerializer,
    ScanFilterSerializer,
    ScanStatusSerializer,
    ScanSummarySerializer,
    UploadSerializer,
)
from imaging.storage import BlobCorrupted, BlobNotFound, StorageError, StorageUnavailable
from imaging.validation import UploadRejected
from portal.api.permissions import PURPOSE_HEADER, purpose_of
from portal.keys import KeyAccessError
from portal.models import Role, User
from portal.policy import one_consent_read

log = logging.getLogger(__name__)


def _error(message: str, code: str, http_status: int) -> Response:
    """RFC 9457 problem details; `error` and `code` kept for existing clients."""
    response = problem(http_status, message)
    response.data.update({"error": message, "code": code})
    return response


def _status_body(scan) -> dict:
    """The status representation of the API: the web page's, plus the NEQR layer flag."""
    return {**selectors.status_of(scan), "neqr_layer": NeqrLayerSerializer.of(scan)}


def _purpose(request) -> str:
    """The declared purpose of use; an unknown code is a 400, never passed to the policy."""
    return purpose_of(request)


def _refuse(decision, action: str):
    raise ApiError(decision_message(decision, action), decision.status_code or 403)


def _authorized_scan(request, scan_id, action: str, *, record: bool = True):
    """The scan, if the policy allows `action` on it for the caller's purpose; else a problem."""
    with one_consent_read():  # the scan's read brings the consents the decision reads
        scan = api_selectors.scan_for_detail(scan_id, reader=request.user)
        if scan is None:
            raise ApiError("No such patient or scan, or you have no access to it.", 404)
        decision = authorize(
            actor=request.user,
            action=action,
            patient=scan.patient,
            scan=scan,
            purpose=_purpose(request),
            record=record,
        )
    if not decision.allowed:
        _refuse(decision, action)
    return scan


SCAN_PARAMS = [OpenApiParameter("scan_id", OpenApiTypes.UUID, OpenApiParameter.PATH), PURPOSE_HEADER]
COMMON_ERRORS = (400, 401, 403, 404, 429)


class ScanCollectionView(generics.GenericAPIView):
    """GET: scans the caller may see; POST: upload a scan (202 + status URL)."""

    parser_classes = [MultiPartParser, FormParser]
    required_scopes = {"GET": ["scans:read"], "POST": ["scans:write"]}
    serializer_class = ScanSummarySerializer

    @extend_schema(
        operation_id="scans_list",
        summary="List the scans you may see",
        description="A patient sees their own scans; a clinician or API client the scans of patients "
        "whose consent covers them for the declared purpose. Each row is decided by the policy; one "
        "`list` decision per patient is recorded on the ledger.",
        parameters=[ScanFilterSerializer, PAGE, PURPOSE_HEADER, RETRY_AFTER],
        responses={200: ScanSummarySerializer(many=True), **problems(*COMMON_ERRORS)},
        examples=[SCAN_LIST_EXAMPLE, *PROBLEM_EXAMPLES],
        tags=["scans"],
    )
    def get(self, request):
        filters = ScanFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        purpose = _purpose(request)
        with one_consent_read():  # each patient's consents read once for all its rows
            return self._list(request, f, purpose)

    def _list(self, request, f, purpose: str):
        if "patient" in f:
            patient = api_selectors.patient_by_id(f["patient"])
            if patient is None:
                raise ApiError("No such patient or scan, or you have no access to it.", 404)
            patients = [patient]
        else:
            patients = list(api_selectors.candidate_patients(request.user))
        visible = []
        for patient in patients:
            decision = authorize(actor=request.user, action="list", patient=patient, purpose=purpose)
            if decision.allowed:
                visible.append(patient)
            elif "patient" in f:
                _refuse(decision, "list")
        scans = api_selectors.scans_for_patients(visible, status=f.get("status"), modality=f.get("modality"))
        rows = [
            s
            for s in scans
            if authorize(actor=request.user, action="view", scan=s, purpose=purpose, record=False).allowed
        ]
        page = self.paginate_queryset(rows)
        return self.get_paginated_response([ScanSummarySerializer.of(s) for s in page])

    @extend_schema(
        operation_id="scans_create",
        request={"multipart/form-data": UploadSerializer},
        responses={202: ScanStatusSerializer, **problems(*COMMON_ERRORS, 413, 415, 503)},
        parameters=[PURPOSE_HEADER, RETRY_AFTER],
        examples=[
            problem_example(413, "The file is 80.0 MB; the limit is 50.0 MB."),
            problem_example(403, "You are not allowed to upload scans for this patient."),
        ],
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
        decision = authorize(actor=request.user, action="upload", patient=patient, purpose=_purpose(request))
        if not decision.allowed:
            return _error(decision_message(decision, "upload"), "forbidden", 403)
        try:
            scan = services.scan_upload(
                uploader=request.user,
                patient=patient,
                file=ser.validated_data["file"],
                neqr_layer=ser.validated_data.get("neqr_layer", False),
            )
        except UploadRejected as exc:
            response = _error(exc.message, exc.code, exc.status)
            if exc.status == 503:  # the blob store is down: nothing was saved
                response["Retry-After"] = str(blobs.OUTAGE_RETRY_AFTER)
            return response
        body = _status_body(scan)
        resp = Response(body, status=status.HTTP_202_ACCEPTED)
        resp["Location"] = body["status_url"]
        return resp


class ScanDetailView(APIView):
    required_scopes = ["scans:read"]

    @extend_schema(
        operation_id="scans_retrieve",
        summary="One scan: metadata, diagnosis, model, hashes, CIDs, ledger event",
        parameters=[*SCAN_PARAMS, RETRY_AFTER],
        responses={200: ScanDetailSerializer, **problems(*COMMON_ERRORS)},
        examples=[SCAN_DETAIL_EXAMPLE, *PROBLEM_EXAMPLES],
        tags=["scans"],
    )
    def get(self, request, scan_id):
        scan = _authorized_scan(request, scan_id, "view")
        return Response(ScanDetailSerializer.of(scan))


class ScanStatusView(APIView):
    required_scopes = ["scans:read"]

    @extend_schema(
        operation_id="scans_status_retrieve",
        responses={200: ScanStatusSerializer, **problems(*COMMON_ERRORS)},
        parameters=[*SCAN_PARAMS, RETRY_AFTER],
        examples=[
            OpenApiExample(
                "Still processing",
                value={
                    "id": "0b5f3f52-3f2e-4c9b-a0d5-0b4c6f0e9a11",
                    "status": "diagnosing",
                    "status_label": "Diagnosing",
                    "progress": 33,
                    "done": False,
                    "failed": False,
                    "failure_reason": "",
                    "status_url": "/api/v1/scans/0b5f3f52-3f2e-4c9b-a0d5-0b4c6f0e9a11/status",
                    "page_url": "/scans/0b5f3f52-3f2e-4c9b-a0d5-0b4c6f0e9a11/",
                    "updated_at": "2026-01-14T09:12:05+00:00",
                    "neqr_layer": {
                        "applied": False,
                        "simulated": True,
                        "scheme": "qmedchain-neqr-v1",
                        "note": NEQR_LAYER_NOTE,
                    },
                },
                response_only=True,
                status_codes=["200"],
            ),
            *PROBLEM_EXAMPLES,
        ],
        summary="Processing status of a scan (polling; not recorded on the ledger)",
        tags=["scans"],
    )
    def get(self, request, scan_id):
        scan = _authorized_scan(request, scan_id, "view", record=False)
        return Response(_status_body(scan))


class ScanDiagnosisView(APIView):
    required_scopes = ["scans:read"]

    @extend_schema(
        operation_id="scans_diagnosis_retrieve",
        summary="Diagnosis of a processed scan, with the model that produced it",
        parameters=[*SCAN_PARAMS, RETRY_AFTER],
        responses={200: DiagnosisSerializer, **problems(*COMMON_ERRORS, 409)},
        examples=[
            *PROBLEM_EXAMPLES,
            problem_example(409, "The scan is still being processed (diagnosing); no diagnosis yet."),
            OpenApiExample(
                "A finished diagnosis",
                value={
                    "scan_id": "0b5f3f52-3f2e-4c9b-a0d5-0b4c6f0e9a11",
                    "label": "normal",
                    "probability": 0.12,
                    "model_id": "classical",
                    "model_version": "1.0.0",
                    "model_sha256": "3f" * 32,
                    "pixel_sha256": "9c" * 32,
                    "ledger_event_id": "8a7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910",
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
        tags=["scans"],
    )
    def get(self, request, scan_id):
        scan = _authorized_scan(request, scan_id, "view")
        if scan.status == ScanStatus.FAILED:
            raise ApiError(f"Processing failed, so there is no diagnosis: {scan.failure_reason}", 409)
        if scan.status != ScanStatus.DONE or not (scan.diagnosis_label or scan.diagnosis_applicable is False):
            raise ApiError(
                f"The scan is still being processed ({scan.status}); no diagnosis yet.",
                409,
            )
        return Response(DiagnosisSerializer(DiagnosisSerializer.of(scan)).data)


@contextmanager
def _reading(scan, kind: str):
    """Key, integrity and storage failures of reading a stored object, as problems."""
    try:
        yield
    except KeyAccessError:
        raise ApiError(
            "You hold no decryption key for this scan (the consent may have changed).", 403
        ) from None
    except (BlobCorrupted, envelope.IntegrityError, NeqrLayerError):
        log.warning("integrity failure serving %s of scan %s", kind, scan.pk)
        raise ApiError(
            "The stored object failed its integrity check (damaged or altered); it is not served.", 409
        ) from None
    except BlobNotFound:
        raise ApiError("The stored object is missing from storage.", 404) from None
    except (StorageUnavailable, StorageError):
        raise ApiError("Storage is unavailable right now; try again in a few minutes.", 503) from None


def _deidentified_original(request, scan_id):
    """The original for a research purpose: de-identified (imaging.research), never as stored."""
    scan = _authorized_scan(request, scan_id, "download")
    try:
        with _reading(scan, ObjectKind.ORIGINAL):
            data = research.deidentified_bytes(scan, reader=request.user)
    except research.NotReleased as exc:
        raise ApiError(str(exc), 403) from None
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    if api_selectors.etag_matches(request.headers.get("If-None-Match"), etag):
        return HttpResponse(status=304, headers=headers)
    response = HttpResponse(data, content_type="application/dicom", headers=headers)
    response["Content-Disposition"] = f'attachment; filename="scan-{scan.pk}-deidentified.dcm"'
    return response


def _blob_response(request, scan_id, kind: str, action: str):
    scan = _authorized_scan(request, scan_id, action)
    obj = api_selectors.blob_of(scan, kind)
    if obj is None:
        raise ApiError(
            "This scan has no preview yet (processing is not finished)."
            if kind == ObjectKind.PREVIEW
            else "The original of this scan is missing.",
            409 if kind == ObjectKind.PREVIEW and scan.status != ScanStatus.DONE else 404,
        )
    etag = f'"{obj.ciphertext_sha256}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-store"}
    if api_selectors.etag_matches(request.headers.get("If-None-Match"), etag):
        return HttpResponse(status=304, headers=headers)
    with _reading(scan, kind):
        data = read_object(obj, reader=request.user)
    response = HttpResponse(data, content_type=api_selectors.content_type_of(scan, kind), headers=headers)
    response["Content-Disposition"] = f'attachment; filename="{api_selectors.download_name(scan, kind)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


_BLOB_HEADERS = [*SCAN_PARAMS, IF_NONE_MATCH, ETAG, RETRY_AFTER]
_NOT_MODIFIED = {304: OpenApiResponse(description="Not modified: your If-None-Match still matches.")}


class ScanOriginalView(APIView):
    required_scopes = ["scans:read"]

    @extend_schema(
        operation_id="scans_original_retrieve",
        summary="Download the original upload (decrypted with your own key wrap; `download` action)",
        description="Content-Disposition carries a server-chosen name `scan-<id>-original.<ext>`; the "
        "uploader's file name is never used. ETag is the SHA-256 of the stored ciphertext. For a research "
        "purpose (HRESCH) the original is never sent: a DICOM upload comes de-identified (PS3.15 Annex E "
        "Basic Profile, pseudonymous UIDs; `scan-<id>-deidentified.dcm`, ETag its SHA-256) and a PNG/JPEG "
        "upload is refused (403).",
        parameters=_BLOB_HEADERS,
        responses={
            (200, "application/dicom"): OpenApiResponse(OpenApiTypes.BINARY, description="DICOM original"),
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="PNG original"),
            (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="JPEG original"),
            **_NOT_MODIFIED,
            **problems(*COMMON_ERRORS, 409, 503),
        },
        examples=[
            *PROBLEM_EXAMPLES,
            problem_example(403, "The patient's consent does not allow this action."),
        ],
        tags=["scans"],
    )
    def get(self, request, scan_id):
        if research.is_research(_purpose(request)):
            return _deidentified_original(request, scan_id)
        return _blob_response(request, scan_id, ObjectKind.ORIGINAL, "download")


class ScanPreviewView(APIView):
    required_scopes = ["scans:read"]

    @extend_schema(
        operation_id="scans_preview_retrieve",
        summary="Preview PNG (decrypted with your own key wrap; `view` action)",
        parameters=_BLOB_HEADERS,
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="PNG preview"),
            **_NOT_MODIFIED,
            **problems(*COMMON_ERRORS, 409, 503),
        },
        examples=[*PROBLEM_EXAMPLES, problem_example(409, "This scan has no preview yet.")],
        tags=["scans"],
    )
    def get(self, request, scan_id):
        return _blob_response(request, scan_id, ObjectKind.PREVIEW, "view")


class PatientListView(generics.GenericAPIView):
    required_scopes = ["scans:read"]
    serializer_class = PatientSerializer

    @extend_schema(
        operation_id="patients_list",
        summary="Patients visible to you",
        description="Yourself for a patient; patients with an active consent naming you (or your "
        "organisation) that covers the declared purpose, for clinicians and API clients. Each is "
        "decided by the policy (`list`) and recorded. API clients see a per-client pseudonym, not a name.",
        parameters=[PAGE, PURPOSE_HEADER, RETRY_AFTER],
        responses={200: PatientSerializer(many=True), **problems(*COMMON_ERRORS)},
        examples=[PATIENTS_EXAMPLE, *PROBLEM_EXAMPLES],
        tags=["people"],
    )
    def get(self, request):
        purpose = _purpose(request)
        rows = []
        for patient, consents in api_selectors.candidate_patients(request.user).items():
            decision = authorize(actor=request.user, action="list", patient=patient, purpose=purpose)
            if not decision.allowed:
                continue
            rows.append(
                {
                    "id": patient.pk,
                    "label": api_selectors.patient_label(request.user, patient),
                    "consents": consents,
                    "scans_url": f"/api/v1/scans?patient={patient.pk}",
                }
            )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(PatientSerializer(page, many=True).data)
