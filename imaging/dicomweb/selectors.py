"""Reads behind DICOMweb: the instances (scans) a caller may see, as QIDO-RS results, and the
instances a WADO-RS or STOW-RS request names.

Every instance is decided by the one policy decision point (portal.policy, through
imaging.permissions.authorize) for the caller's purpose of use:

- a search records one ``list`` decision for each patient whose instances it looks at, and
  decides each instance (``view``) without recording it, as the API's scan list does;
- a retrieval records a decision for every instance whose content it returns (``download``
  for the DICOM instance itself, ``view`` for metadata, frames, rendered images and
  thumbnails), and one refusal when it may return none.

A study or a series is visible as far as its instances are: counts and modalities are those of
the instances the caller may see. Scans that share a SOP Instance UID (one file uploaded twice
through the web form) are one instance here: the newest one the caller may see.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from core.api.errors import ApiError
from imaging import api_selectors
from imaging.dicom.query import Query
from imaging.hierarchy import accession_hash
from imaging.models import Scan, Study
from imaging.permissions import authorize, decision_message
from portal.models import Role, User

HIDDEN = "No such study, series or instance, or you have no access to it."

STUDY_FIELDS = (
    "StudyInstanceUID",
    "StudyDate",
    "AccessionNumber",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
    "InstanceAvailability",
    "RetrieveURL",
)
SERIES_FIELDS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
    "InstanceAvailability",
    "RetrieveURL",
)
INSTANCE_FIELDS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "InstanceAvailability",
    "RetrieveURL",
)
DEFAULT_FIELDS = {"study": STUDY_FIELDS, "series": SERIES_FIELDS, "instance": INSTANCE_FIELDS}


def instances() -> QuerySet:
    """Scans filed in the hierarchy, with their series, study and patient."""
    return Scan.objects.filter(series__isnull=False).select_related("series__study", "patient")


def _matching(qs: QuerySet, match: dict) -> QuerySet:
    """`qs` narrowed by a query's keys (ModalitiesInStudy is applied to visible series later)."""
    if "StudyInstanceUID" in match:
        qs = qs.filter(series__study__study_instance_uid__in=match["StudyInstanceUID"])
    if "StudyDate" in match:
        span = match["StudyDate"]
        if span.start:
            qs = qs.filter(series__study__study_date__gte=span.start)
        if span.end:
            qs = qs.filter(series__study__study_date__lte=span.end)
    if "AccessionNumber" in match:
        qs = qs.filter(series__study__accession_hash=accession_hash(match["AccessionNumber"]))
    if "SeriesInstanceUID" in match:
        qs = qs.filter(series__series_instance_uid__in=match["SeriesInstanceUID"])
    if "Modality" in match:
        qs = qs.filter(series__modality__iexact=match["Modality"])
    if "SeriesNumber" in match:
        qs = qs.filter(series__series_number=match["SeriesNumber"])
    if "SOPInstanceUID" in match:
        qs = qs.filter(sop_instance_uid__in=match["SOPInstanceUID"])
    if "SOPClassUID" in match:
        qs = qs.filter(sop_class_uid__in=match["SOPClassUID"])
    if "InstanceNumber" in match:
        qs = qs.filter(instance_number=match["InstanceNumber"])
    return qs


def _newest_per_uid(scans: Iterable[Scan]) -> list[Scan]:
    """One scan per SOP Instance UID: the first met, from scans in newest-first order."""
    seen: dict[str, Scan] = {}
    for scan in scans:
        seen.setdefault(scan.sop_instance_uid, scan)
    return list(seen.values())


def _order(scan: Scan) -> tuple:
    series, study = scan.series, scan.series.study
    return (
        study.study_instance_uid,
        series.series_number if series.series_number is not None else 1 << 31,
        series.series_instance_uid,
        scan.instance_number if scan.instance_number is not None else 1 << 31,
        scan.sop_instance_uid,
    )


def search(
    *,
    actor: User,
    purpose: str,
    query: Query,
    study_uid: str | None = None,
    series_uid: str | None = None,
    patient_id: Any = None,
) -> list[Scan]:
    """The instances matching `query` (and the UIDs of the resource's path) that the caller may
    see, one per SOP Instance UID; only the portal patient `patient_id`'s when given (a C-FIND
    on a linked DICOM Patient ID, imaging.dimse.find)."""
    qs = _matching(instances(), query.match)
    if study_uid is not None:
        qs = qs.filter(series__study__study_instance_uid=study_uid)
    if series_uid is not None:
        qs = qs.filter(series__series_instance_uid=series_uid)
    candidates = {patient.pk: patient for patient in api_selectors.candidate_patients(actor)}
    if patient_id is not None:
        candidates = {pk: patient for pk, patient in candidates.items() if pk == patient_id}
    present = set(qs.filter(patient_id__in=list(candidates)).values_list("patient_id", flat=True))
    listed = [
        pk
        for pk in sorted(present, key=str)
        if authorize(actor=actor, action="list", patient=candidates[pk], purpose=purpose).allowed
    ]
    rows = qs.filter(patient_id__in=listed).order_by("-created_at", "id")
    visible = _newest_per_uid(
        s
        for s in rows
        if authorize(actor=actor, action="view", scan=s, purpose=purpose, record=False).allowed
    )
    modality = query.match.get("ModalitiesInStudy")
    if modality:  # a study matches when one of its visible series has the modality
        studies = {
            s.series.study.study_instance_uid for s in visible if s.series.modality.upper() == modality
        }
        visible = [s for s in visible if s.series.study.study_instance_uid in studies]
    return sorted(visible, key=_order)


def _urls(base: str, scan: Scan) -> tuple[str, str, str]:
    study = f"{base}/studies/{scan.series.study.study_instance_uid}"
    series = f"{study}/series/{scan.series.series_instance_uid}"
    return study, series, f"{series}/instances/{scan.sop_instance_uid}"


def study_rows(scans: list[Scan], *, base: str, query: Query) -> list[dict[str, Any]]:
    """One row per study (keyword -> value), newest study date first."""
    rows: dict[str, dict[str, Any]] = {}
    for scan in scans:
        study = scan.series.study
        row = rows.setdefault(
            study.study_instance_uid,
            {
                "StudyInstanceUID": study.study_instance_uid,
                "StudyDate": study.study_date.strftime("%Y%m%d") if study.study_date else [],
                "AccessionNumber": query.match.get("AccessionNumber", []),
                "ModalitiesInStudy": set(),
                "NumberOfStudyRelatedSeries": set(),
                "NumberOfStudyRelatedInstances": 0,
                "InstanceAvailability": "ONLINE",
                "RetrieveURL": _urls(base, scan)[0],
            },
        )
        if scan.series.modality:
            row["ModalitiesInStudy"].add(scan.series.modality)
        row["NumberOfStudyRelatedSeries"].add(scan.series.series_instance_uid)
        row["NumberOfStudyRelatedInstances"] += 1
    out = []
    for row in rows.values():
        row["ModalitiesInStudy"] = sorted(row["ModalitiesInStudy"])
        row["NumberOfStudyRelatedSeries"] = len(row["NumberOfStudyRelatedSeries"])
        out.append(row)
    out.sort(key=lambda r: r["StudyInstanceUID"])
    out.sort(key=lambda r: r["StudyDate"] or "", reverse=True)
    return out


def series_rows(scans: list[Scan], *, base: str, query: Query) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for scan in scans:
        series, study = scan.series, scan.series.study
        row = rows.setdefault(
            (study.study_instance_uid, series.series_instance_uid),
            {
                "StudyInstanceUID": study.study_instance_uid,
                "StudyDate": study.study_date.strftime("%Y%m%d") if study.study_date else [],
                "SeriesInstanceUID": series.series_instance_uid,
                "Modality": series.modality or [],
                "SeriesNumber": series.series_number,
                "NumberOfSeriesRelatedInstances": 0,
                "InstanceAvailability": "ONLINE",
                "RetrieveURL": _urls(base, scan)[1],
            },
        )
        row["NumberOfSeriesRelatedInstances"] += 1
    return list(rows.values())  # in the order of `scans`: study, series number, UID


def instance_rows(scans: list[Scan], *, base: str, query: Query) -> list[dict[str, Any]]:
    return [
        {
            "StudyInstanceUID": scan.series.study.study_instance_uid,
            "StudyDate": scan.series.study.study_date.strftime("%Y%m%d")
            if scan.series.study.study_date
            else [],
            "SeriesInstanceUID": scan.series.series_instance_uid,
            "Modality": scan.series.modality or [],
            "SeriesNumber": scan.series.series_number,
            "SOPClassUID": scan.sop_class_uid or [],
            "SOPInstanceUID": scan.sop_instance_uid,
            "InstanceNumber": scan.instance_number,
            "Rows": scan.height,
            "Columns": scan.width,
            "NumberOfFrames": scan.frames,
            "InstanceAvailability": "ONLINE",
            "RetrieveURL": _urls(base, scan)[2],
        }
        for scan in scans
    ]


ROWS = {"study": study_rows, "series": series_rows, "instance": instance_rows}


def results(scans: list[Scan], *, base: str, query: Query, cap: int) -> tuple[list[dict[str, Any]], int]:
    """The page of result rows the query asks for (keyword -> value, with only the level's
    default attributes and those it includes) and how many more rows there are."""
    rows = ROWS[query.level](scans, base=base, query=query)
    limit = min(query.limit or cap, cap)
    page = rows[query.offset : query.offset + limit]
    wanted = None if query.include_all else set(DEFAULT_FIELDS[query.level]) | query.include
    if wanted is not None:
        page = [{k: v for k, v in row.items() if k in wanted} for row in page]
    return page, max(0, len(rows) - query.offset - len(page))


# --- retrieval


def retrievable(
    *,
    actor: User,
    purpose: str,
    action: str,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> list[Scan]:
    """The instances of a study, series or single instance that the caller may `action`
    ("view" or "download"), each decision recorded; a problem (the policy's status, 404 where
    existence stays hidden) when there is none."""
    qs = instances().filter(series__study__study_instance_uid=study_uid)
    if series_uid is not None:
        qs = qs.filter(series__series_instance_uid=series_uid)
    if sop_uid is not None:
        qs = qs.filter(sop_instance_uid=sop_uid)
    candidates = list(qs.order_by("-created_at", "id"))
    if not candidates:
        raise ApiError(HIDDEN, 404)
    allowed = _newest_per_uid(
        s
        for s in candidates
        if authorize(actor=actor, action=action, scan=s, purpose=purpose, record=False).allowed
    )
    served = [s for s in allowed if authorize(actor=actor, action=action, scan=s, purpose=purpose).allowed]
    if not served:  # one refusal recorded, on the newest candidate
        decision = authorize(actor=actor, action=action, scan=candidates[0], purpose=purpose)
        if decision.allowed:  # consent given in between
            return [candidates[0]]
        status = decision.status_code or 403
        raise ApiError(HIDDEN if status == 404 else decision_message(decision, action), status)
    return sorted(served, key=_order)


# --- the patient of a STOW-RS request


def stow_patient(*, actor: User, patient_id: str | None, study_uid: str | None) -> User:
    """The portal patient stored instances belong to: the one named by ``?patient=``, else the
    caller when a patient stores their own, else the patient whose study the request stores
    into. Whether the caller may upload for them is the policy's decision, made after this."""
    if patient_id:
        try:
            pk = uuid.UUID(patient_id)
        except ValueError:
            raise ApiError("patient: not a patient id.", 400) from None
        patient = api_selectors.patient_by_id(pk)
        if patient is None:
            raise ApiError(HIDDEN, 404)
        return patient
    if actor.role == Role.PATIENT:
        return actor
    if study_uid:
        owners = list(
            Study.objects.filter(study_instance_uid=study_uid).values_list("patient_id", flat=True).distinct()
        )
        if len(owners) == 1:
            patient = api_selectors.patient_by_id(owners[0])
            if patient is not None:
                return patient
        if len(owners) > 1:
            raise ApiError(
                "More than one patient has a study with this UID: name the patient with ?patient=.", 400
            )
        raise ApiError(HIDDEN, 404)
    raise ApiError(
        "Name the portal patient these instances belong to with ?patient=<patient id>, or store them "
        "into one of the patient's studies (POST /dicomweb/studies/{study}).",
        400,
    )


def stored_instance(*, patient: User, sop_uid: str) -> Scan | None:
    """The patient's newest scan that is instance `sop_uid`, if any."""
    return instances().filter(patient=patient, sop_instance_uid=sop_uid).order_by("-created_at").first()
