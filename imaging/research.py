"""Research reads (purpose of use HRESCH): de-identified instances only.

A caller who declares a research purpose, and whose access the policy allows (its consent
covers HRESCH), gets each instance de-identified per request from the decrypted original
(imaging.dicom.deid: PS3.15 Annex E Basic Profile). The identified original never leaves:
DICOMweb (imaging.dicomweb.research) and the scan API's download both go through
`deidentified_bytes`.

Pseudonyms are keyed per recipient: HMAC under a key derived from ``QMC_DEID_KEY`` (else from
the master key) and the recipient's user id. One recipient always sees the same UIDs and the
same patient pseudonym; two recipients cannot link what they were given by its UIDs.

Each de-identified instance is recorded on the ledger (``scan.deidentified``: profile,
options and library; no health data), besides the access decision that allowed it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings

from core.keyvault import master_key, pseudonym
from crypto.sealing import derive
from imaging import api_selectors
from imaging.dicom import deid
from imaging.models import ObjectKind, Scan
from imaging.pipeline import decrypt_object
from ledger.services import record_event

PURPOSE = "HRESCH"
NOT_RELEASED = (
    "This scan is not released for research: it is a PNG/JPEG upload, which may carry burned-in "
    "identifiers, and pixel data is not cleaned here."
)


class NotReleased(Exception):
    """The instance is not released for research; the message says why (no values)."""


def is_research(purpose: str) -> bool:
    return purpose == PURPOSE


def releasable(scan: Scan) -> bool:
    """Whether the scan can be de-identified at all (a DICOM upload); a DICOM instance may still
    be withheld once read (imaging.dicom.deid.withheld_reason)."""
    return scan.source_format == "dicom"


def node_key() -> bytes:
    if settings.QMC_DEID_KEY:
        return bytes.fromhex(settings.QMC_DEID_KEY)
    return derive(master_key(), b"deid")


def recipient_key(recipient: Any) -> bytes:
    """The key of one recipient's pseudonyms."""
    return hmac.new(node_key(), f"recipient:{recipient.pk}".encode(), hashlib.sha256).digest()


def pseudonym_uid(key: bytes, uid: str) -> str:
    return deid.pseudonym_uid(key, uid)


def deidentified_bytes(scan: Scan, *, reader: Any) -> bytes:
    """The scan's instance de-identified for `reader` (Part 10 bytes), recorded on the ledger;
    NotReleased when it may not leave. The policy has allowed the read (the caller's job)."""
    if not releasable(scan):
        raise NotReleased(NOT_RELEASED)
    original = api_selectors.blob_of(scan, ObjectKind.ORIGINAL)
    if original is None:
        raise NotReleased("The original of this scan is missing.")
    data = decrypt_object(original, reader=reader)
    key = recipient_key(reader)
    try:
        out = deid.deidentify(data, key=key, patient=deid.patient_pseudonym(key, str(scan.patient_id)))
    except deid.Withheld as exc:
        raise NotReleased(str(exc)) from None
    record(scan, reader=reader)
    return out


def record(scan: Scan, *, reader: Any) -> None:
    record_event(
        event_type="scan.deidentified",
        payload={
            "scan_id": scan.id,
            "patient": pseudonym("patient", scan.patient_id),
            "actor": pseudonym("user", reader.pk),
            "role": reader.role,
            "purpose": PURPOSE.lower(),
            "profile": deid.PROFILE_WORD,
            "options": [deid.BASIC_PROFILE[0], *(code for code, _ in deid.OPTIONS_APPLIED)],
            "algorithm": deid.ALGORITHM_WORD,
        },
    )
