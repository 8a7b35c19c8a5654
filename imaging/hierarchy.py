"""The DICOM hierarchy over scans: Study -> Series -> instance, where an instance is a Scan.

A scan stays the unit that consent, key wraps and the pipeline know; studies and series are
rows that index scans by their DICOM UIDs (`imaging.dicom.identity`). The upload path
(`imaging.services.scan_upload`, so the web form, the API, STOW-RS and later DIMSE) asks
`identity_for_upload` before anything is stored and files the instance with `file_instance`
inside its transaction. What a reader sees of a study or series is the set of its scans that
the policy allows (imaging.dicomweb.selectors); the rows here carry no access of their own.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from core.keyvault import pseudonym
from imaging.dicom.identity import InstanceIdentity, generated_identity, read_identity
from imaging.models import Series, Study
from imaging.validation import UploadRejected

CONFLICT_MESSAGE = (
    "This instance's series is already filed under another study (its Study Instance UID "
    "disagrees with the series' study), so it was not stored."
)


def accession_hash(number: str) -> str:
    """Keyed hash of an Accession Number: exact QIDO matching without storing the number."""
    return pseudonym("dicom-accession", number.strip()) if number.strip() else ""


def identity_for_upload(*, data: bytes, fmt: str, scan_id: Any) -> InstanceIdentity:
    """The instance an upload is: a DICOM file's own UIDs (UploadRejected when one is missing
    or malformed), or a secondary capture with UIDs made from `scan_id` for PNG/JPEG."""
    if fmt == "dicom":
        return read_identity(data)
    return generated_identity(settings.QMC_DICOM_UID_ROOT, scan_id)


def instance_fields(identity: InstanceIdentity) -> dict:
    """The Scan columns that name the instance."""
    return {
        "sop_instance_uid": identity.sop_instance_uid,
        "sop_class_uid": identity.sop_class_uid,
        "instance_number": identity.instance_number,
        "transfer_syntax_uid": identity.transfer_syntax_uid,
    }


def file_instance(*, patient_id: Any, identity: InstanceIdentity) -> Series:
    """The series (and study) of the instance, created when new; call it inside the upload's
    transaction. UploadRejected (409) when the instance's series is already filed under another
    study of the patient: nothing of the instance may then be kept.

    Round trips: a PNG/JPEG upload's study and series are new by construction (two INSERTs); a
    DICOM instance of a known series costs one SELECT, which also finds a conflict."""
    if identity.generated:
        study = Study.objects.create(
            patient_id=patient_id,
            study_instance_uid=identity.study_uid,
            study_date=identity.study_date or timezone.localdate(),
            generated_uids=True,
        )
        return Series.objects.create(
            study=study,
            series_instance_uid=identity.series_uid,
            modality=identity.modality,
            series_number=identity.series_number,
        )
    known = (
        Series.objects.select_related("study")
        .filter(study__patient_id=patient_id, series_instance_uid=identity.series_uid)
        .first()
    )
    if known is not None:
        if known.study.study_instance_uid != identity.study_uid:
            raise UploadRejected(CONFLICT_MESSAGE, status=409, code="study_conflict")
        return known
    study, _ = Study.objects.get_or_create(
        patient_id=patient_id,
        study_instance_uid=identity.study_uid,
        defaults={
            "study_date": identity.study_date or timezone.localdate(),
            "accession_hash": accession_hash(identity.accession_number),
        },
    )
    series, _ = Series.objects.get_or_create(  # another upload of the same new series may be racing
        study=study,
        series_instance_uid=identity.series_uid,
        defaults={"modality": identity.modality, "series_number": identity.series_number},
    )
    return series
