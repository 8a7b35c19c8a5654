"""Where an uploaded instance sits in the DICOM hierarchy: study, series and SOP instance UIDs
(pure module, no Django).

A DICOM upload carries its own UIDs; the three are Type 1 and an upload without any of them is
refused (it could not be filed, and DICOMweb could not name it). A PNG or JPEG upload becomes a
secondary capture (SOP class 1.2.840.10008.5.1.4.1.1.7) in a study of its own, whose UIDs are
made under the portal's root from the scan id, so the same scan always gets the same UIDs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from imaging.validation import UploadRejected

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
SECONDARY_CAPTURE_MODALITY = "OT"
MAX_UID_LENGTH = 64
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
LEVELS = ("study", "series", "instance")


@dataclass(frozen=True)
class InstanceIdentity:
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str = ""
    series_number: int | None = None
    instance_number: int | None = None
    study_date: date | None = None
    accession_number: str = ""  # an identifier: the caller stores a keyed hash of it, never the value
    transfer_syntax_uid: str = ""
    generated: bool = False  # the UIDs were made by the portal


def is_uid(value: object) -> bool:
    """A syntactically valid DICOM UID (PS3.5 9.1): digits and dots, no leading zeros, 64 chars."""
    return isinstance(value, str) and 0 < len(value) <= MAX_UID_LENGTH and _UID.fullmatch(value) is not None


def generated_uid(root: str, scan_id: object, level: str) -> str:
    """The UID the portal gives `level` ("study", "series" or "instance") of scan `scan_id`:
    deterministic, under `root` (which ends with a dot)."""
    from pydicom.uid import generate_uid

    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    return str(generate_uid(prefix=root, entropy_srcs=[f"qmedchain-scan:{scan_id}:{level}"]))


def generated_identity(root: str, scan_id: object, *, study_date: date | None = None) -> InstanceIdentity:
    """The identity of a PNG/JPEG upload (or of a scan whose original cannot be read): a secondary
    capture, alone in its series and study."""
    return InstanceIdentity(
        study_uid=generated_uid(root, scan_id, "study"),
        series_uid=generated_uid(root, scan_id, "series"),
        sop_instance_uid=generated_uid(root, scan_id, "instance"),
        sop_class_uid=SECONDARY_CAPTURE,
        modality=SECONDARY_CAPTURE_MODALITY,
        series_number=1,
        instance_number=1,
        study_date=study_date,
        generated=True,
    )


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> date | None:
    s = str(value or "").strip()
    if len(s) >= 8 and s[:8].isdigit():
        try:
            return date(int(s[:4]), int(s[4:6]), int(s[6:8]))
        except ValueError:
            return None
    return None


_NAMES = {
    "StudyInstanceUID": "Study Instance UID (0020,000D)",
    "SeriesInstanceUID": "Series Instance UID (0020,000E)",
    "SOPInstanceUID": "SOP Instance UID (0008,0018)",
}


def _uid(ds: Any, keyword: str) -> str:
    value = str(ds.get(keyword, "") or "").strip().rstrip("\x00").strip()
    if not value:
        code = "no_sop_instance_uid" if keyword == "SOPInstanceUID" else "no_study_or_series_uid"
        raise UploadRejected(
            f"The DICOM file has no {_NAMES[keyword]}, so it cannot be filed in a study.", code=code
        )
    if not is_uid(value):
        raise UploadRejected(f"The DICOM file's {_NAMES[keyword]} is not a valid UID.", code="invalid_uid")
    return value


def dicom_identity(ds: Any) -> InstanceIdentity:
    """The identity a DICOM data set (pydicom, pixel data not needed) declares; UploadRejected
    when a UID is missing or malformed."""
    sop_instance_uid = _uid(ds, "SOPInstanceUID")
    study_uid = _uid(ds, "StudyInstanceUID")
    series_uid = _uid(ds, "SeriesInstanceUID")
    meta = getattr(ds, "file_meta", None)
    sop_class = str(ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta else ""))
    transfer_syntax = str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""
    return InstanceIdentity(
        study_uid=study_uid,
        series_uid=series_uid,
        sop_instance_uid=sop_instance_uid,
        sop_class_uid=sop_class.strip() if is_uid(sop_class.strip()) else "",
        modality=str(ds.get("Modality", "") or "").strip().upper()[:16],
        series_number=_int(ds.get("SeriesNumber")),
        instance_number=_int(ds.get("InstanceNumber")),
        study_date=_date(ds.get("StudyDate")),
        accession_number=str(ds.get("AccessionNumber", "") or "").strip()[:64],
        transfer_syntax_uid=transfer_syntax if is_uid(transfer_syntax) else "",
    )


def read_identity(data: bytes) -> InstanceIdentity:
    """`dicom_identity` of DICOM Part 10 bytes (header only); UploadRejected if unreadable."""
    from imaging.validation import read_dicom_header

    return dicom_identity(read_dicom_header(data))
