"""Reads behind the scan API: candidate patients and scans for a caller, blobs for one reader.

Only candidates come from here; whether the caller may see each one is decided by the policy
decision point in the views (imaging.permissions.authorize).
"""

from __future__ import annotations

import functools
import uuid

from core.keyvault import pseudonym
from core.rows import Columns, prefetched, read_joined
from imaging.models import ObjectKind, Scan, ScanObject
from portal.consent_selectors import patients_of
from portal.models import Consent, Role, User
from portal.policy import consents_join, consents_read

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


def scan_for_detail(scan_id, reader: User | None = None) -> Scan | None:
    """The scan with its patient and its stored objects, in ONE statement; with `reader`, the
    consents its decision will read too (handed to the policy's `one_consent_read` block
    the caller holds: portal.policy.consents_read)."""
    try:
        scan_id = uuid.UUID(str(scan_id))
    except ValueError:
        return None
    parts, sid = [_SCAN, _PATIENT, _OBJECTS], _SCAN.param("id", scan_id)
    params = [sid, sid]
    consents = None
    if reader is not None and getattr(reader, "is_authenticated", False):
        consents, grantee = consents_join("c", '"s"."patient_id"', reader)
        parts.append(_CONSENTS)
        params += [*grantee, sid]
    found = read_joined(_detail_sql(consents), params, parts)
    if not found[0]:
        return None
    scan, patient = found[0][0], found[1][0]
    scan.patient = patient
    prefetched(scan, "blobs", found[2])
    if consents is not None:
        consents_read(reader, patient, found[3])
    return scan


# the authorized read's one statement (read_joined): the scan, its patient, its objects and,
# for a reader, the consents the policy reads; its select lists compiled once per process
_SCAN = Columns(Scan, "s")
_PATIENT = Columns(User, "u")
_OBJECTS = Columns(ScanObject, "o")
_CONSENTS = Columns(Consent, "c")


@functools.cache
def _detail_sql(consents: str | None) -> str:
    """The statement: one branch per table, each row carrying only its own table's columns
    (the others NULL), so that no row repeats the scan once per object and consent; with the
    consents' branch on the policy's condition `consents`, or without it."""
    parts = [_SCAN, _PATIENT, _OBJECTS] + ([_CONSENTS] if consents else [])

    def select(*mine: Columns) -> str:
        return ", ".join(p.sql() if p in mine else p.nulls() for p in parts)

    # only quoted names and the policy's constant clause are formatted in (values are %s)
    sql = (
        f'SELECT {select(_SCAN, _PATIENT)} FROM {_SCAN.table()} JOIN {_PATIENT.table()} ON "u"."id" = "s"."patient_id"'  # nosec B608
        ' WHERE "s"."id" = %s'
        f' UNION ALL SELECT {select(_OBJECTS)} FROM {_OBJECTS.table()} WHERE "o"."scan_id" = %s'  # nosec B608
    )
    if consents:
        sql += (
            f" UNION ALL SELECT {select(_CONSENTS)} FROM {_CONSENTS.table()} JOIN {_SCAN.table()} ON {consents}"  # nosec B608
            ' WHERE "s"."id" = %s'
        )
    return sql


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
