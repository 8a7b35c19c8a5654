"""The DICOM JSON model (PS3.18 F.2) for search results, metadata and STOW responses (pure
module, no Django)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
MEDIA_TYPE = "application/dicom+json"

# STOW-RS FailureReason (0008,1197) values used here (PS3.4 Annex B.2.3, PS3.18 10.5.3)
PROCESSING_FAILURE = 0x0110
DUPLICATE_SOP_INSTANCE = 0x0111
OUT_OF_RESOURCES = 0xA700
DATA_SET_DOES_NOT_MATCH = 0xA900  # a Study Instance UID that disagrees with the target or the series
CANNOT_UNDERSTAND = 0xC000  # not DICOM, unreadable, or no SOP Instance UID


def tag_of(keyword: str) -> str:
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return f"{tag:08X}"


def vr_of(keyword: str) -> str:
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return str(dictionary_VR(tag)).split(" or ")[0]


def element(keyword: str, values: Iterable[Any] | None) -> tuple[str, dict[str, Any]]:
    """(tag, {"vr", "Value"}) of one attribute; no Value when `values` is empty (zero length)."""
    vr = vr_of(keyword)
    items = [v for v in (values or ()) if v is not None and v != ""]
    if vr == "PN":
        items = [{"Alphabetic": str(v)} for v in items]
    elif vr == "SQ":
        items = [dict(v) for v in items]
    elif vr == "IS":
        items = [int(v) for v in items]
    elif vr not in ("US", "UL", "SS", "SL", "FL", "FD"):  # numbers stay numbers
        items = [str(v) for v in items]
    body: dict[str, Any] = {"vr": vr}
    if items:
        body["Value"] = items
    return tag_of(keyword), body


def dataset(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A DICOM JSON object from {keyword: value or list of values}; None values are left out,
    an empty list gives a zero-length attribute. Tags come out in ascending order."""
    out: dict[str, Any] = {}
    for keyword, value in attributes.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        tag, body = element(keyword, values)
        out[tag] = body
    return dict(sorted(out.items()))


def metadata(ds: Any) -> dict[str, Any]:
    """The DICOM JSON of a pydicom data set without its pixel data (a viewer reads frames for
    those). Values pydicom cannot encode are left out rather than failing the response."""
    for keyword in PIXEL_KEYWORDS:
        if keyword in ds:
            del ds[keyword]
    out: dict[str, Any] = ds.to_json_dict(bulk_data_threshold=1 << 20, suppress_invalid_tags=True)
    return out


def referenced_item(sop_class: str, sop_instance: str, retrieve_url: str | None) -> dict[str, Any]:
    return dataset(
        {
            "ReferencedSOPClassUID": [sop_class] if sop_class else [],
            "ReferencedSOPInstanceUID": [sop_instance],
            "RetrieveURL": retrieve_url,
        }
    )


def failed_item(sop_class: str, sop_instance: str, reason: int) -> dict[str, Any]:
    return dataset(
        {
            "ReferencedSOPClassUID": [sop_class] if sop_class else [],
            "ReferencedSOPInstanceUID": [sop_instance] if sop_instance else [],
            "FailureReason": reason,
        }
    )


def store_response(
    *, retrieve_url: str | None, referenced: list[dict[str, Any]], failed: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Store Instances Response Module (PS3.18 10.5.3.2)."""
    attributes: dict[str, Any] = {"RetrieveURL": retrieve_url if referenced else None}
    if failed:
        attributes["FailedSOPSequence"] = failed
    if referenced:
        attributes["ReferencedSOPSequence"] = referenced
    return dataset(attributes)
