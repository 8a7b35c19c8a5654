"""Reads behind the scan API: candidate patients and scans for a caller, blobs for one reader.

Only candidates come from here; whether the caller may see each one is decided by the policy
decision point in the views (imaging.permissions.authorize).
"""

from __future__ import annotations

import uuid

from core.keyvault import pseudonym
from core.rows import Rows, prefetched
from imaging.models import ObjectKind, Scan, ScanObject
from portal.consent_selectors import patients_of
from portal.models import Role, User

CONTENT_TYPES = {"dicom": "application/dicom", "png": "image/png", "jpeg": "image/jpeg"}
EXTENSIONS = {"dicom": "dcm", "png": "png", "jpeg": "jpg"}


def candidate_patients(actor: User) -> dict[User, list]:
    """Patients the caller might see, with the active consents naming the caller (none for self)."""
    if actor.role == Role.PATIENT:
        return {actor: []}
    if actor.role in (Role.CLINICIAN, Role.API_CLIENT, Role.DICOM_NODE):
        return patients_of(actor)
    return {}


def patient_by_id(pk) -> User | None:
    return User.objects.filter(pk=pk, role=Role.PATIENT).first()


def scans_for_patients(patients, *, status: str | None = None, modality: str | None = None):
    qs = Scan.objects.filter(patient__in=list(patients)).select_related("patient")
    if status:
        qs = qs.filter(status=status)
    if modality:
        qs = qs.filter(modality__iexact=modality)
    return qs.order_by("-created_at", "id")


def scan_for_detail(scan_id) -> Scan | None:
    try:
        scan_id = uuid.UUID(str(scan_id))
    except ValueError:
        return None
    scan = _SCAN.first(scan_id)
    if scan is None:
        return None
    scan.patient = _USER.first(scan.patient_id)  # type: ignore[assignment]
    prefetched(scan, "blobs", _OBJECTS.fetch(scan.id))
    return scan


# the authorized read's three reads, compiled once per process (core.rows)
_SCAN = Rows(Scan, '"id" = %s', params=("id",))
_USER = Rows(User, '"id" = %s', params=("id",))
_OBJECTS = Rows(ScanObject, '"scan_id" = %s', params=("scan_id",))


def blob_of(scan: Scan, kind: str) -> ScanObject | None:
    return ScanObject.objects.filter(scan=scan, kind=kind).order_by("-version").first()


def download_name(scan: Scan, kind: str) -> str:
    """Server-chosen file name; the uploader's file name is never stored nor used."""
    ext = "png" if kind == ObjectKind.PREVIEW else EXTENSIONS.get(scan.source_format, "bin")
    return f"scan-{scan.id}-{kind}.{ext}"


def content_type_of(scan: Scan, kind: str) -> str:
    if kind == ObjectKind.PREVIEW:
        return "image/png"
    return CONTENT_TYPES.get(scan.source_format, "application/octet-stream")


def patient_label(actor: User, patient: User) -> str:
    """Names for the patient and clinicians; a per-client pseudonym (not the ledger's) for API clients."""
    if actor.role == Role.API_CLIENT:
        return "patient-" + pseudonym(f"client-view:{actor.pk}", patient.pk)[:12]
    return patient.display_name()


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of If-None-Match against our (strong) ETag."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip() for t in if_none_match.split(",")]
    return any((t[2:] if t.startswith("W/") else t) == etag for t in tags)
