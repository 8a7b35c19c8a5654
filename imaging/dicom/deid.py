"""De-identification of a DICOM instance for research (PS3.15 Annex E), pure module (no Django).

The Basic Application Level Confidentiality Profile (DCM 113100), applied with the rule table of
``dicom-anonymizer`` (`RULES`: PS3.15 2026c Table E.1-1, one action per attribute) and its
actions, with these choices where the table leaves one or the library's default does not fit:

- U (UIDs, also inside sequences and the file meta): a keyed HMAC pseudonym ``2.25.<uuid>``
  (`pseudonym_uid`). Deterministic under the recipient's key, so every instance of a study
  keeps one Study Instance UID, a series one Series Instance UID, and references between
  instances still resolve. The library's default is a random UID remembered in a
  process-global dict: neither stable across requests nor separate between recipients.
- X (remove): removed. The library writes 00010101 into a removed date; here X means absent.
- X/Z/U* (referenced-instance sequences): removed (X), not emptied.
- Patient ID and Patient's Name (Z): the recipient's pseudonym of the portal patient
  (`patient_pseudonym`), so a research caller can group instances by patient and no more.
- Private attributes: removed (Retain Safe Private Option not applied); so are the file meta
  attributes that name a sender or receiver (`META_REMOVED`; the table has none of group 0002
  but the Media Storage SOP Instance UID).
- Every sequence that stays is cleaned item by item with the same rules.

Options not applied, and why:

- Retain Longitudinal Temporal Information (113106/113107): dates and times are dummied or
  removed by the table (LongitudinalTemporalInformationModified = REMOVED). Shifted dates would
  be one more keyed secret to keep, and no research use asks for them yet.
- Clean Pixel Data (113101) and Clean Recognizable Visual Features (113102): pixels are not
  cleaned (no OCR here). An instance that says it has burned-in annotation or recognizable
  visual features, or whose kind often has burned-in text and says nothing, is withheld
  (`withheld_reason`), never sent with its pixels as they are.
- Retain Patient Characteristics, Device Identity, Institution Identity, UIDs, Safe Private
  (113108-113112), Clean Graphics / Structured Content / Descriptors (113103-113105): not
  applied; the Basic table's actions stand for those attributes.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pydicom
from dicomanonymizer import simpledicomanonymizer as library
from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as RULES
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

LIBRARY = "dicom-anonymizer"
LIBRARY_VERSION = version(LIBRARY)
RULES_NAME = "dicomfields_2026c"
STANDARD_EDITION = "2026c"  # of PS3.15 Table E.1-1, as the rule table says
PROFILE_WORD = f"ps3.15-{STANDARD_EDITION}-basic"  # for the ledger (an enumerated word)
ALGORITHM_WORD = f"{LIBRARY}-{LIBRARY_VERSION}"

BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
OPTIONS_APPLIED: tuple[tuple[str, str], ...] = ()  # none: see the module's docstring
METHOD = (
    f"PS3.15 {STANDARD_EDITION} Basic Profile",
    f"{LIBRARY} {LIBRARY_VERSION} {RULES_NAME}",
    "keyed HMAC UIDs and patient ID",
)
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
# kinds that often carry burned-in text: withheld unless Burned In Annotation says NO
TEXT_PRONE_MODALITIES = frozenset({"US", "OT", "SC", "XC", "ES", "GM", "SM", "DOC"})

# file meta attributes outside Table E.1-1 that name a sender, a receiver or private data: removed
META_REMOVED: tuple[tuple[int, int], ...] = (
    (0x0002, 0x0016),  # Source Application Entity Title
    (0x0002, 0x0017),  # Sending Application Entity Title
    (0x0002, 0x0018),  # Receiving Application Entity Title
    (0x0002, 0x0026),  # Source Presentation Address
    (0x0002, 0x0027),  # Sending Presentation Address
    (0x0002, 0x0028),  # Receiving Presentation Address
    (0x0002, 0x0100),  # Private Information Creator UID
    (0x0002, 0x0102),  # Private Information
)

Tag = tuple[int, ...]
Action = Callable[[Dataset, Any], None]


class Withheld(ValueError):
    """The instance cannot be released de-identified; the message says why (no values)."""


def _hmac(key: bytes, label: str, value: str) -> bytes:
    return hmac.new(key, f"{label}:{value}".encode(), hashlib.sha256).digest()


def pseudonym_uid(key: bytes, uid: str) -> str:
    """The recipient's pseudonym of a UID: ``2.25.`` and a version-8 UUID made of an HMAC."""
    raw = bytearray(_hmac(key, "uid", uid)[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8 (custom)
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    return "2.25." + str(int.from_bytes(raw, "big"))


def patient_pseudonym(key: bytes, patient_ref: str) -> str:
    """The recipient's pseudonym of a patient (Patient ID and Patient's Name of the output)."""
    return "R" + _hmac(key, "patient", patient_ref).hex()[:31].upper()


def _uid_action(key: bytes) -> Action:
    def replace_uid(dataset: Dataset, tag: Any) -> None:
        element = dataset.get(tag)
        if element is None or element.VR != "UI" or not element.value:
            return
        if element.VM > 1:
            element.value = [pseudonym_uid(key, str(v)) for v in element.value]
        else:
            element.value = pseudonym_uid(key, str(element.value))

    return replace_uid


def _remove(dataset: Dataset, tag: Any) -> None:
    if tag in dataset:
        del dataset[tag]


def _value(text: str) -> Action:
    def replace(dataset: Dataset, tag: Any) -> None:
        if tag in dataset:
            dataset[tag].value = text

    return replace


def rules(key: bytes, patient: str) -> dict[Tag, Action]:
    """The action for each attribute of Table E.1-1 (the library's table), with the choices of
    the module's docstring."""
    actions: dict[Tag, Action] = library.initialize_actions(RULES_NAME)
    for tag in RULES.X_TAGS:
        actions[tag] = _remove
    for tag in (*RULES.X_Z_U_STAR_TAGS, *META_REMOVED):
        actions[tag] = _remove
    uid = _uid_action(key)
    for tag in RULES.U_TAGS:
        actions[tag] = uid
    actions[(0x0010, 0x0020)] = _value(patient)  # Patient ID
    actions[(0x0010, 0x0010)] = _value(patient)  # Patient's Name
    return actions


def _apply(dataset: Dataset, actions: dict[Tag, Action]) -> None:
    library.anonymize_dataset(dataset, base_rules_gen=lambda: dict(actions), delete_private_tags=True)
    for element in list(dataset):
        if element.VR == "SQ" and element.value:
            for item in element.value:
                _apply(item, actions)


def withheld_reason(ds: Dataset) -> str | None:
    """Why the instance may not be released with its pixels as they are (they are not cleaned),
    or None."""
    burned_in = str(ds.get("BurnedInAnnotation", "") or "").upper()
    if burned_in == "YES":
        return "it has burned-in annotation, and pixel data is not cleaned here"
    if str(ds.get("RecognizableVisualFeatures", "") or "").upper() == "YES":
        return "it has recognizable visual features, and pixel data is not cleaned here"
    if burned_in != "NO":
        modality = str(ds.get("Modality", "") or "").upper()
        sop_class = str(ds.get("SOPClassUID", "") or "")
        if modality in TEXT_PRONE_MODALITIES or sop_class.startswith(SECONDARY_CAPTURE_PREFIX):
            return "its kind often carries burned-in text and it does not say it has none"
    return None


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def deidentify_dataset(ds: Dataset, *, key: bytes, patient: str) -> Dataset:
    """`ds`, de-identified in place (and returned); raises Withheld."""
    reason = withheld_reason(ds)
    if reason:
        raise Withheld(f"This instance is not released for research: {reason}.")
    actions = rules(key, patient)
    try:
        _apply(ds, actions)  # the library applies group 0002 rules to the file meta
        meta = getattr(ds, "file_meta", None)
        if meta is not None and "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    except (NotImplementedError, KeyError, TypeError) as exc:  # an attribute the library cannot handle
        raise Withheld(f"This instance could not be de-identified ({type(exc).__name__}).") from None
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = list(METHOD)
    ds.DeidentificationMethodCodeSequence = Sequence(
        [_code(*BASIC_PROFILE), *(_code(*option) for option in OPTIONS_APPLIED)]
    )
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    return ds


def read(data: bytes, *, pixels: bool = True) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=not pixels)


def deidentify(data: bytes, *, key: bytes, patient: str) -> bytes:
    """The de-identified Part 10 bytes of DICOM `data`, in its transfer syntax; raises Withheld."""
    ds = deidentify_dataset(read(data), key=key, patient=patient)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
