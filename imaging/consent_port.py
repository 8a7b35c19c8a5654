"""What the consent side may ask of imaging, and nothing more.

`portal` (consent, key wraps, receipts) reaches scans only through these functions, so the
consent side depends on one small interface instead of imaging's models and pipeline. The
scans handed out are read-only model instances: callers read their fields (patient,
modality, dates) for policy decisions and labels, and never save them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from django.db.models import F

from imaging.models import Scan, ScanObject


def object_ids_readable(*, patient, may_read: Callable[[Scan], bool]) -> set[uuid.UUID]:
    """Ids of the stored objects of `patient`'s scans for which `may_read(scan)` holds: the
    objects a reader's key wraps must cover. Two queries, however many scans."""
    scan_ids = [scan.pk for scan in Scan.objects.filter(patient=patient) if may_read(scan)]
    if not scan_ids:
        return set()
    return set(ScanObject.objects.filter(scan_id__in=scan_ids).values_list("id", flat=True))


def owned_scan_ids(*, patient, scan_ids: Iterable[str]) -> set[str]:
    """The ids among `scan_ids` that are scans of `patient` (as strings)."""
    rows = Scan.objects.filter(patient=patient, id__in=list(scan_ids)).values_list("id", flat=True)
    return {str(pk) for pk in rows}


def scan_label(scan: Scan) -> str:
    """How a person recognises a scan: 'CT · Chest · study of 19 Jan 2004' (the study date
    from the file; the upload date only when the file carried none)."""
    parts = [scan.modality or scan.source_format.upper()]
    if scan.body_part:
        parts.append(scan.body_part.replace("_", " ").capitalize())
    when = (
        f"study of {scan.study_date:%d %b %Y}" if scan.study_date else f"uploaded {scan.created_at:%d %b %Y}"
    )
    return " · ".join([*parts, when])


def scan_choices(patient) -> list[tuple[str, str, bool]]:
    """(id, label, has a preview to show as a thumbnail) of `patient`'s scans, for a consent's
    "these scans only" scope."""
    return [
        (str(s.id), scan_label(s), s.status == "done")
        for s in Scan.objects.filter(patient=patient).order_by("-study_date", "-created_at")
    ]


def scan_for_decision(scan_id) -> Scan | None:
    """The scan `scan_id` with its patient, for a policy decision; None if there is none."""
    try:
        pk = uuid.UUID(str(scan_id))
    except ValueError:
        return None
    return Scan.objects.select_related("patient").filter(pk=pk).first()


# --- what the patient's and the clinician's pages name (portal's consent and history pages) ---


def scan_words(scan) -> str:
    """A scan as a person names it: "CT of 19 Jan 2004" (modality and study date; the upload
    day only when the file carried no study date)."""
    kind = scan.modality or scan.source_format.upper() or "scan"
    day = scan.study_date or scan.created_at.date()
    return f"{kind} of {day.day} {day:%b %Y}"


def scan_names(*, scan_ids: Iterable) -> dict[str, str]:
    """{scan id (string): its words} for the ids that are scans, oldest first (study date, then
    upload time); one query."""
    ids = []
    for value in scan_ids:
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    if not ids:
        return {}
    rows = (
        Scan.objects.filter(pk__in=ids)
        .only("id", "modality", "source_format", "study_date", "created_at")
        .order_by(F("study_date").asc(nulls_last=True), "created_at")
    )
    return {str(scan.pk): scan_words(scan) for scan in rows}


def patient_ids_seen_by(*, organisation_id) -> set:
    """Patients whose scans the organisation's people uploaded or whose DICOM Patient ID its
    systems linked: with the patients registered at the organisation, those its clinicians may
    look up in an emergency."""
    from imaging.models import DicomPatientLink

    uploaded = Scan.objects.filter(uploaded_by__organisation_id=organisation_id).values_list(
        "patient_id", flat=True
    )
    linked = DicomPatientLink.objects.filter(organisation_id=organisation_id).values_list(
        "patient_id", flat=True
    )
    return set(uploaded.distinct()) | set(linked)


def recent_uploads(*, uploader, limit: int = 5) -> list[Scan]:
    """The scans `uploader` added most recently, with their patients (a clinician's home page)."""
    return list(Scan.objects.filter(uploaded_by=uploader).select_related("patient")[:limit])
