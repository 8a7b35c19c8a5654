"""Reads behind the viewer page: the patient identity inside a study's DICOM files, checked
against the portal patient (imaging.dicom.patient_match).

Each instance of the study that the reader may view is decided by the policy decision point and
recorded (reading its header is reading its content); its original is decrypted per request up
to the end of its header only (the pixel data's chunks are never opened), and nothing is
written to disk. The names, IDs and birth dates found go to the clinician's page and nowhere
else: a header that cannot be read is logged by scan id and error type only.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pydicom
from pydicom.errors import InvalidDicomError

from crypto import envelope
from imaging.dicom.patient_match import DicomPatient, IdentityCheck, PortalPatient, check
from imaging.models import ObjectKind, Scan, ScanObject
from imaging.permissions import authorize
from imaging.pipeline import stream_object
from imaging.storage import StorageError
from portal.keys import KeyAccessError

log = logging.getLogger(__name__)

MAX_CHECKED = 200  # instances whose header the page reads; beyond, the check says how many were left
PATIENT_TAGS = ["SpecificCharacterSet", "PatientName", "PatientID", "PatientBirthDate"]


@dataclass(frozen=True)
class StudyIdentity:
    check: IdentityCheck
    portal: PortalPatient
    generated: bool  # the study was made by the portal from PNG/JPEG uploads: no DICOM identity


class LazyChunkFile(io.RawIOBase):
    """A seekable file over an iterator of chunks, pulling chunks only as far as it is read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._data = bytearray()
        self._pos = 0
        self._done = False

    def _fill(self, upto: int | None) -> None:
        while not self._done and (upto is None or len(self._data) < upto):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
            else:
                self._data += chunk

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._fill(self._pos + len(buffer))
        piece = self._data[self._pos : self._pos + len(buffer)]
        buffer[: len(piece)] = piece
        self._pos += len(piece)
        return len(piece)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            self._fill(None)
            offset += len(self._data)
        elif whence == io.SEEK_CUR:
            offset += self._pos
        self._pos = max(0, offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def _original(scan: Scan) -> ScanObject | None:
    return ScanObject.objects.filter(scan=scan, kind=ObjectKind.ORIGINAL).order_by("-version").first()


def dicom_patient(scan: Scan, *, reader) -> DicomPatient | None:
    """The patient attributes of a DICOM upload's header, read with `reader`'s key; None when
    the header cannot be read (no key, storage, integrity, not DICOM)."""
    obj = _original(scan)
    if obj is None:
        return None
    try:
        with LazyChunkFile(stream_object(obj, reader=reader)) as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=PATIENT_TAGS)
        return DicomPatient(
            name=str(ds.get("PatientName", "") or ""),
            patient_id=str(ds.get("PatientID", "") or ""),
            birth_date=str(ds.get("PatientBirthDate", "") or ""),
        )
    except (
        KeyAccessError,
        StorageError,
        envelope.IntegrityError,
        InvalidDicomError,
        ValueError,
        KeyError,
        TypeError,
        EOFError,
    ) as exc:
        log.warning("viewer identity: header of scan %s not read (%s)", scan.pk, type(exc).__name__)
        return None


def portal_patient(patient) -> PortalPatient:
    """What the portal knows of a patient's identity (names only, so far: no birth date or
    hospital identifier is held yet, and those are then not compared)."""
    return PortalPatient(first_name=patient.first_name or "", last_name=patient.last_name or "")


def study_identity(
    *, scan: Scan, reader, purpose: str = "TREAT", recorded: Scan | None = None
) -> StudyIdentity:
    """The identity check of `scan`'s study for `reader`: every DICOM instance of the study
    (newest upload per SOP Instance UID) that the reader may view, each read recorded except
    for `recorded` (the scan whose page view was recorded already). Instances the reader may
    not view are neither read nor recorded nor counted: the page does not reveal them."""
    study = scan.series.study
    portal = portal_patient(study.patient)
    newest: dict[str, Scan] = {}
    for s in Scan.objects.filter(series__study=study).order_by("-created_at", "id"):
        newest.setdefault(s.sop_instance_uid or str(s.pk), s)
    dicom = [s for s in newest.values() if s.source_format == "dicom"]
    visible = [
        s
        for s in dicom
        if authorize(actor=reader, action="view", scan=s, purpose=purpose, record=False).allowed
    ]
    found: list[DicomPatient] = []
    unread = max(0, len(visible) - MAX_CHECKED)
    for s in visible[:MAX_CHECKED]:
        if recorded is None or s.pk != recorded.pk:
            if not authorize(actor=reader, action="view", scan=s, purpose=purpose).allowed:
                continue  # consent changed in between
        patient = dicom_patient(s, reader=reader)
        if patient is None:
            unread += 1
        else:
            found.append(patient)
    return StudyIdentity(check=check(portal, found, unread=unread), portal=portal, generated=not dicom)
