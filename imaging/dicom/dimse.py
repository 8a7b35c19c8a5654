"""The pure parts of DIMSE (PS3.7, PS3.4): status codes, the keyed patient identifier, and
study-level C-FIND identifiers turned into a QIDO `Query` and answered (no Django).

C-FIND at STUDY level (Study Root Query/Retrieve Information Model - FIND) matches on the keys
QIDO-RS supports at study level (`imaging.dicom.query`: StudyInstanceUID, StudyDate,
AccessionNumber, ModalitiesInStudy) and on PatientID (exact; the caller's own identifier,
compared as its keyed hash: no Patient ID is stored in clear), with IssuerOfPatientID. Any
other key with a value other than ``*`` is refused (no person-name matching: names are not
stored). Every key of the identifier comes back in each response: with the study's value
where the portal has it, the caller's own PatientID / IssuerOfPatientID / AccessionNumber
where it matched on them, and empty otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from imaging.dicom.query import Query, QueryError, parse

# PS3.7 Annex C and PS3.4 C.4.1.1.4 / B.2.3
SUCCESS = 0x0000
PENDING = 0xFF00
NOT_AUTHORISED = 0x0124  # Refused: Not Authorized (general)
DUPLICATE_SOP_INSTANCE = 0x0111
OUT_OF_RESOURCES = 0xA700
DATA_SET_DOES_NOT_MATCH = 0xA900  # C-STORE: data set / C-FIND: identifier does not match SOP class
CANNOT_UNDERSTAND = 0xC000  # C-STORE: cannot understand / C-FIND: unable to process

# the keys a study-level C-FIND may match on, besides PatientID and IssuerOfPatientID
STUDY_MATCH_KEYS = ("StudyInstanceUID", "StudyDate", "AccessionNumber", "ModalitiesInStudy")
# what a study row (imaging.dicomweb.selectors.study_rows) answers for
STUDY_VALUES = (
    "StudyInstanceUID",
    "StudyDate",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
    "InstanceAvailability",
)
_IGNORED = {"QueryRetrieveLevel", "SpecificCharacterSet"}
MAX_COMMENT = 64  # Error Comment (0000,0902) is LO


class FindError(ValueError):
    """A C-FIND identifier that cannot be answered; `status` is the failure to send."""

    def __init__(self, message: str, status: int = CANNOT_UNDERSTAND) -> None:
        super().__init__(message)
        self.status = status


def error_comment(message: str) -> str:
    """An Error Comment: at most 64 characters, ASCII (LO in the default repertoire)."""
    text = message.encode("ascii", "replace").decode("ascii").replace("\\", "/")
    return text if len(text) <= MAX_COMMENT else text[: MAX_COMMENT - 1] + "~"


def patient_key(key: bytes, *, organisation_id: str, issuer: str, patient_id: str) -> str:
    """The keyed HMAC-SHA256 (hex) that stands for one organisation's Patient ID in the issuer's
    namespace; "" when there is no Patient ID. Leading and trailing spaces are not significant
    (LO), so they are dropped; each part is length-prefixed, so no two triples collide."""
    patient_id = patient_id.strip()
    if not patient_id:
        return ""
    message = b"".join(
        len(part).to_bytes(4, "big") + part
        for part in (s.encode("utf-8") for s in (organisation_id, issuer.strip(), patient_id))
    )
    return hmac.new(key, b"dicom-patient-id\x00" + message, hashlib.sha256).hexdigest()


def _text(value: Any) -> str:
    """An element's value as the text a QIDO parameter would carry (multiple values joined by
    backslashes); "" for an empty value."""
    if value is None:
        return ""
    if isinstance(value, list | tuple | MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


@dataclass(frozen=True)
class FindRequest:
    query: Query
    requested: tuple[str, ...]  # the identifier's keywords, in its order
    patient_id: str | None = None  # exact Patient ID to match on, None for all
    issuer: str = ""
    echo: dict[str, str] = field(default_factory=dict)  # keyword -> the caller's own matching value


def study_request(identifier: Dataset) -> FindRequest:
    """The `FindRequest` of a study-level C-FIND identifier; FindError
    (A900 for another level, C000 for a key or value that cannot be matched)."""
    level = _text(identifier.get("QueryRetrieveLevel", "")).upper()
    if level != "STUDY":
        raise FindError("Only STUDY level queries are supported.", DATA_SET_DOES_NOT_MATCH)
    params: list[tuple[str, list[str]]] = []
    requested: list[str] = []
    echo: dict[str, str] = {}
    patient_id: str | None = None
    issuer = ""
    for element in identifier:
        keyword = element.keyword
        if not keyword:
            raise FindError(f"Private or unknown attribute {element.tag} cannot be matched.")
        if keyword in _IGNORED:
            continue
        requested.append(keyword)
        if element.VR == "SQ":
            if len(element.value):
                raise FindError(f"Sequence matching on {keyword} is not supported.")
            continue
        text = _text(element.value)
        if text in ("", "*"):
            continue  # a return key, or universal matching
        if keyword == "PatientID":
            if "*" in text or "?" in text or "\\" in text:
                raise FindError("PatientID: wildcards are not supported; give the exact ID.")
            patient_id = text
            echo[keyword] = text
        elif keyword == "IssuerOfPatientID":
            issuer = text
            echo[keyword] = text
        elif keyword in STUDY_MATCH_KEYS:
            params.append((keyword, [text]))
            if keyword == "AccessionNumber":
                echo[keyword] = text
        else:
            raise FindError(f"Matching on {keyword} is not supported.")
    try:
        query = parse("study", params)
    except QueryError as exc:
        raise FindError(str(exc)) from None
    return FindRequest(query, tuple(requested), patient_id, issuer, echo)


def study_response(row: dict[str, Any], request: FindRequest) -> Dataset:
    """The response identifier for one study row: every requested key, with its value where
    known, else empty."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in request.requested:
        if keyword in request.echo:
            value: Any = request.echo[keyword]
        elif keyword in STUDY_VALUES:
            value = row.get(keyword)
            if value is None or value == []:
                value = ""
        else:
            value = None
        if value is None:
            value = [] if dictionary_VR(keyword) == "SQ" else ""
        setattr(ds, keyword, value)
    return ds
