"""Serializers and OpenAPI pieces of the scan API (/api/v1/scans, /api/v1/patients)."""

from __future__ import annotations

from django.urls import get_script_prefix, reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema_field
from rest_framework import serializers

from core.api.representation import BoundOnce
from imaging.models import ScanStatus

ETAG = OpenApiParameter(
    "ETag",
    str,
    OpenApiParameter.HEADER,
    response=[200, 304],
    description="Quoted SHA-256 of the stored ciphertext (the blob is immutable).",
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="An ETag you hold; the answer is 304 Not Modified when it still matches.",
)


# --- requests --------------------------------------------------------------------------------------


class UploadSerializer(serializers.Serializer):
    patient = serializers.UUIDField(help_text="id of the patient the scan belongs to")
    file = serializers.FileField(help_text="DICOM, PNG or JPEG (type checked by content)")
    neqr_layer = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Demo, off by default: also pass the derived images (preview, matrix) through the "
        "SIMULATED NEQR quantum image cipher, under AES-256-GCM (which alone provides the confidentiality).",
    )


class ScanFilterSerializer(serializers.Serializer):
    patient = serializers.UUIDField(required=False, help_text="Only this patient's scans.")
    status = serializers.ChoiceField(choices=ScanStatus.values, required=False)
    modality = serializers.CharField(required=False, max_length=16, help_text="e.g. CT, MR, CR, OT")


# --- responses -------------------------------------------------------------------------------------

NEQR_LAYER_NOTE = (
    "SIMULATION for demonstration: when applied, the derived images (preview at most 512 px, and the "
    "128x128 matrix) also passed through a simulated NEQR quantum image cipher (a classical simulation "
    "of a quantum circuit), keyed from their AES data keys. It adds no protection: AES-256-GCM provides "
    "confidentiality and integrity. The API serves the images with the layer removed."
)


class NeqrLayerSerializer(BoundOnce, serializers.Serializer):
    applied = serializers.BooleanField(
        help_text="The scan was uploaded with the simulated NEQR layer on its derived images."
    )
    simulated = serializers.BooleanField(
        help_text="Always true: a classical simulation, not a quantum device."
    )
    scheme = serializers.CharField(help_text="NEQR cipher scheme of the layer.")
    note = serializers.CharField()

    @staticmethod
    def of(scan) -> dict:
        from quantum.neqr import SCHEME

        return {
            "applied": bool(scan.neqr_layer),
            "simulated": True,
            "scheme": SCHEME,
            "note": NEQR_LAYER_NOTE,
        }


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
    neqr_layer = NeqrLayerSerializer(
        required=False, help_text="The optional SIMULATED NEQR layer (API only)."
    )


class DiagnosisSerializer(BoundOnce, serializers.Serializer):
    scan_id = serializers.UUIDField()
    applicable = serializers.BooleanField(
        allow_null=True,
        help_text="False when the applicability gate refused the image (not a chest X-ray): "
        "then label and probability are null and reason says why.",
    )
    reason = serializers.CharField(
        allow_blank=True, help_text='"not applicable: the model is for chest X-rays (...)", or empty.'
    )
    label = serializers.CharField(allow_null=True, help_text="Model output, e.g. pneumonia / normal.")
    probability = serializers.FloatField(allow_null=True)
    model_id = serializers.CharField()
    model_version = serializers.CharField()
    model_sha256 = serializers.CharField(help_text="SHA-256 of the model artifact that produced it.")
    pixel_sha256 = serializers.CharField(help_text="SHA-256 of the 128x128 matrix the model saw.")
    ledger_event_id = serializers.UUIDField(allow_null=True)

    @staticmethod
    def of(scan) -> dict:
        return {
            "scan_id": scan.id,
            "applicable": scan.diagnosis_applicable,
            "reason": scan.diagnosis_reason,
            "label": scan.diagnosis_label if scan.diagnosis_applicable is not False else None,
            "probability": scan.diagnosis_probability if scan.diagnosis_applicable is not False else None,
            "model_id": scan.model_id,
            "model_version": scan.model_version,
            "model_sha256": scan.model_sha256,
            "pixel_sha256": scan.pixel_sha256,
            "ledger_event_id": scan.ledger_event_id,
        }


class ScanObjectSerializer(BoundOnce, serializers.Serializer):
    kind = serializers.CharField()
    version = serializers.IntegerField()
    cid = serializers.CharField(help_text="Content id of the ciphertext in the blob store.")
    ciphertext_sha256 = serializers.CharField()
    plaintext_size = serializers.IntegerField()

    @staticmethod
    def of(obj) -> dict:
        return {
            "kind": _text(obj.kind),
            "version": _int(obj.version),
            "cid": _text(obj.cid),
            "ciphertext_sha256": _text(obj.ciphertext_sha256),
            "plaintext_size": _int(obj.plaintext_size),
        }


# The `of` functions below give exactly the output of their serializer's declared fields
# (tests/api/test_representation.py compares them, key order included), without DRF's
# per-field machinery: every authorized read builds one, and that machinery was a fifth of
# its cost. The declared fields stay the OpenAPI schema. Dates and times are formatted by
# DRF's own fields (the active time zone, "Z" for UTC).
_DATETIME = serializers.DateTimeField()
_DATE = serializers.DateField()


def _text(value) -> str | None:
    return None if value is None else str(value)


def _int(value) -> int | None:
    return None if value is None else int(value)


def _float(value) -> float | None:
    return None if value is None else float(value)


_ID = "00000000-0000-4000-8000-000000000000"
_paths: dict[tuple[str, str], str] = {}


def _path(name: str, value) -> str:
    """``reverse(name, args=[value])`` for an id, from the route reversed once per prefix:
    a list page builds one per row."""
    key = (name, get_script_prefix())
    template = _paths.get(key)
    if template is None:
        template = _paths[key] = reverse(name, args=[_ID])
    return template.replace(_ID, str(value))


def _datetime(value) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


class ScanSummarySerializer(BoundOnce, serializers.Serializer):
    id = serializers.UUIDField()
    patient = serializers.UUIDField(source="patient_id")
    status = serializers.CharField()
    modality = serializers.CharField(allow_blank=True)
    body_part = serializers.CharField(allow_blank=True)
    study_date = serializers.DateField(allow_null=True)
    created_at = serializers.DateTimeField()
    diagnosis_label = serializers.CharField(allow_blank=True)
    url = serializers.SerializerMethodField()

    def get_url(self, scan) -> str:
        return reverse("imaging-api:scan-detail", args=[scan.id])

    @staticmethod
    def of(scan) -> dict:
        return {
            "id": _text(scan.id),
            "patient": _text(scan.patient_id),
            "status": _text(scan.status),
            "modality": _text(scan.modality),
            "body_part": _text(scan.body_part),
            "study_date": None if scan.study_date is None else _DATE.to_representation(scan.study_date),
            "created_at": _datetime(scan.created_at),
            "diagnosis_label": _text(scan.diagnosis_label),
            "url": _path("imaging-api:scan-detail", scan.id),
        }


class ScanDetailSerializer(ScanSummarySerializer):
    status_label = serializers.CharField(source="get_status_display")
    progress = serializers.IntegerField(source="progress_percent")
    failure_reason = serializers.CharField(allow_blank=True)
    updated_at = serializers.DateTimeField()
    source_format = serializers.CharField()
    original_size = serializers.IntegerField()
    original_sha256 = serializers.CharField(help_text="SHA-256 of the original upload (plaintext).")
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    frames = serializers.IntegerField()
    pixel_sha256 = serializers.CharField(allow_blank=True)
    preprocess_version = serializers.CharField(allow_blank=True)
    qwalk_hash = serializers.CharField(
        allow_blank=True, help_text="Simulated quantum-walk fingerprint (secondary)."
    )
    diagnosis = serializers.SerializerMethodField()
    objects = serializers.SerializerMethodField()
    ledger_event_id = serializers.UUIDField(allow_null=True)
    ledger_receipt_url = serializers.SerializerMethodField()
    original_url = serializers.SerializerMethodField()
    preview_url = serializers.SerializerMethodField()
    neqr_layer = serializers.SerializerMethodField()

    @extend_schema_field(DiagnosisSerializer(allow_null=True))
    def get_diagnosis(self, scan):
        if scan.status != ScanStatus.DONE or not (scan.diagnosis_label or scan.diagnosis_applicable is False):
            return None
        return DiagnosisSerializer(DiagnosisSerializer.of(scan)).data

    @extend_schema_field(ScanObjectSerializer(many=True))
    def get_objects(self, scan):
        rows = sorted(scan.blobs.all(), key=lambda o: (o.kind, o.version))
        return ScanObjectSerializer(rows, many=True).data

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_ledger_receipt_url(self, scan) -> str | None:
        if not scan.ledger_event_id:
            return None
        return reverse("ledger-api-receipt", args=[str(scan.ledger_event_id)])

    def get_original_url(self, scan) -> str:
        return reverse("imaging-api:scan-original", args=[scan.id])

    def get_preview_url(self, scan) -> str:
        return reverse("imaging-api:scan-preview", args=[scan.id])

    @extend_schema_field(NeqrLayerSerializer)
    def get_neqr_layer(self, scan) -> dict:
        return NeqrLayerSerializer.of(scan)

    @staticmethod
    def of(scan) -> dict:
        diagnosis = None
        if scan.status == ScanStatus.DONE and (scan.diagnosis_label or scan.diagnosis_applicable is False):
            row = DiagnosisSerializer.of(scan)
            diagnosis = {
                name: row[name]
                if name == "applicable"
                else _float(row[name])
                if name == "probability"
                else _text(row[name])
                for name in row
            }
        return {
            **ScanSummarySerializer.of(scan),
            "status_label": _text(scan.get_status_display()),
            "progress": _int(scan.progress_percent),
            "failure_reason": _text(scan.failure_reason),
            "updated_at": _datetime(scan.updated_at),
            "source_format": _text(scan.source_format),
            "original_size": _int(scan.original_size),
            "original_sha256": _text(scan.original_sha256),
            "width": _int(scan.width),
            "height": _int(scan.height),
            "frames": _int(scan.frames),
            "pixel_sha256": _text(scan.pixel_sha256),
            "preprocess_version": _text(scan.preprocess_version),
            "qwalk_hash": _text(scan.qwalk_hash),
            "diagnosis": diagnosis,
            "objects": [
                ScanObjectSerializer.of(o)
                for o in sorted(scan.blobs.all(), key=lambda o: (o.kind, o.version))
            ],
            "ledger_event_id": _text(scan.ledger_event_id),
            "ledger_receipt_url": (
                _path("ledger-api-receipt", scan.ledger_event_id) if scan.ledger_event_id else None
            ),
            "original_url": _path("imaging-api:scan-original", scan.id),
            "preview_url": _path("imaging-api:scan-preview", scan.id),
            "neqr_layer": NeqrLayerSerializer.of(scan),
        }


class ConsentSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField(source="series")
    version = serializers.IntegerField()
    actions = serializers.ListField(child=serializers.CharField())
    purposes = serializers.ListField(child=serializers.CharField())
    scope_kind = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True)


class PatientSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Use with GET /api/v1/scans?patient=<id>.")
    label = serializers.CharField(
        help_text="Name for the patient themselves and for clinicians (as on their web pages); "
        "a per-client pseudonym for third-party API clients."
    )
    consents = ConsentSummarySerializer(many=True, help_text="Active consents that let you see this patient.")
    scans_url = serializers.CharField()


# --- examples --------------------------------------------------------------------------------------

SCAN_ID = "0b5f3f52-3f2e-4c9b-a0d5-0b4c6f0e9a11"
PATIENT_ID = "5d1b7c1e-7d0a-4a57-9a53-1b2c3d4e5f60"
EVENT_ID = "8a7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910"

SCAN_LIST_EXAMPLE = OpenApiExample(
    "Scans under consent",
    value={
        "id": SCAN_ID,
        "patient": PATIENT_ID,
        "status": "done",
        "modality": "CT",
        "body_part": "CHEST",
        "study_date": "2026-01-14",
        "created_at": "2026-01-14T09:12:03Z",
        "diagnosis_label": "normal",
        "url": f"/api/v1/scans/{SCAN_ID}",
    },
    response_only=True,
    status_codes=["200"],
)

DIAGNOSIS_EXAMPLE_VALUE = {
    "scan_id": SCAN_ID,
    "label": "normal",
    "probability": 0.12,
    "model_id": "classical",
    "model_version": "1.0.0",
    "model_sha256": "3f" * 32,
    "pixel_sha256": "9c" * 32,
    "ledger_event_id": EVENT_ID,
}
DIAGNOSIS_EXAMPLE = OpenApiExample(
    "A finished diagnosis", value=DIAGNOSIS_EXAMPLE_VALUE, response_only=True, status_codes=["200"]
)

SCAN_DETAIL_EXAMPLE = OpenApiExample(
    "A processed scan",
    value={
        "id": SCAN_ID,
        "patient": PATIENT_ID,
        "status": "done",
        "status_label": "Done",
        "progress": 100,
        "failure_reason": "",
        "modality": "CT",
        "body_part": "CHEST",
        "study_date": "2026-01-14",
        "created_at": "2026-01-14T09:12:03Z",
        "updated_at": "2026-01-14T09:12:09Z",
        "diagnosis_label": "normal",
        "url": f"/api/v1/scans/{SCAN_ID}",
        "source_format": "dicom",
        "original_size": 39206,
        "original_sha256": "5e" * 32,
        "width": 128,
        "height": 128,
        "frames": 1,
        "pixel_sha256": "9c" * 32,
        "preprocess_version": "1",
        "qwalk_hash": "a1" * 32,
        "diagnosis": DIAGNOSIS_EXAMPLE_VALUE,
        "objects": [
            {
                "kind": "original",
                "version": 1,
                "cid": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                "ciphertext_sha256": "e3" * 32,
                "plaintext_size": 39206,
            }
        ],
        "ledger_event_id": EVENT_ID,
        "ledger_receipt_url": f"/api/v1/ledger/receipts/{EVENT_ID}",
        "original_url": f"/api/v1/scans/{SCAN_ID}/original",
        "preview_url": f"/api/v1/scans/{SCAN_ID}/preview",
        "neqr_layer": {
            "applied": False,
            "simulated": True,
            "scheme": "qmedchain-neqr-v1",
            "note": NEQR_LAYER_NOTE,
        },
    },
    response_only=True,
    status_codes=["200"],
)

PATIENTS_EXAMPLE = OpenApiExample(
    "One consenting patient (seen by an API client)",
    value={
        "id": PATIENT_ID,
        "label": "patient-4f9a2c7d1e0b",
        "consents": [
            {
                "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                "version": 1,
                "actions": ["view", "download"],
                "purposes": ["TREAT"],
                "scope_kind": "all",
                "start": "2026-01-01T00:00:00Z",
                "end": "2026-04-01T00:00:00Z",
            }
        ],
        "scans_url": f"/api/v1/scans?patient={PATIENT_ID}",
    },
    response_only=True,
    status_codes=["200"],
)
