"""Fixtures for the DICOMweb tests: DICOM files made with pydicom (a multi-frame one among
them), a patient with scans uploaded through the real upload path, a clinician and an API
client with her consent, and the real `dicomweb-client` against the live server."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import numpy as np
import pytest
import requests
from dicomweb_client import DICOMwebClient

from portal.consent_services import consent_grant
from tests.api.conftest import fetch_token, register_client
from tests.factories import ClinicianFactory, PatientFactory, login_verified
from tests.imaging.conftest import dicom_bytes

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
UID_ROOT = "1.2.826.0.1.3680043.8.498.7701."  # pydicom's root: UIDs for test files only


def uid(*parts) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(prefix=UID_ROOT, entropy_srcs=[":".join(map(str, parts))]))


def frame_pixels(frames: int = 3, rows: int = 32, cols: int = 24) -> np.ndarray:
    """Distinct 16-bit frames: frame i is a ramp offset by 1000 * i."""
    ramp = np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols)
    return np.stack([ramp + np.uint16(1000 * i) for i in range(frames)])


def make_dicom(
    *,
    study: str | None = None,
    series: str | None = None,
    sop: str | None = "auto",
    pixels: np.ndarray | None = None,
    modality: str = "MR",
    study_date: str = "20240315",
    accession: str = "",
    seed: str = "a",
) -> bytes:
    """A DICOM Part 10 file (Explicit VR Little Endian) with patient attributes that must
    never leave in the clear; `sop=None` leaves the SOP Instance UID out."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian

    pixels = frame_pixels() if pixels is None else pixels
    sop_uid = uid("sop", seed) if sop == "auto" else sop
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(MR_IMAGE)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid or uid("meta", seed))
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\x00" * 128)
    ds.SOPClassUID = MR_IMAGE
    if sop_uid:
        ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study or uid("study", seed)
    ds.SeriesInstanceUID = series or uid("series", seed)
    ds.Modality = modality
    ds.StudyDate = study_date
    ds.AccessionNumber = accession
    ds.PatientName = "Secret^Person"
    ds.PatientID = "MRN-0042"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    frames = pixels.shape[0] if pixels.ndim == 3 else 1
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@dataclass
class World:
    alice: object
    doc: object
    outsider: object
    client_user: object
    client_id: str
    client_secret: str
    ct: object  # Scan of CT_small.dcm
    multiframe: object  # Scan of a 3-frame MR
    multiframe_bytes: bytes


@pytest.fixture
def world(db) -> World:
    """Alice's CT and 3-frame MR, uploaded through the real upload path (no worker runs: the
    originals, which DICOMweb serves, are stored at upload)."""
    from imaging.services import scan_upload

    alice = PatientFactory(username="alice-dw")
    doc = ClinicianFactory()
    consent_grant(patient=alice, grantee_user=doc, actions=["view", "download", "upload"], purposes=["TREAT"])
    client_id, secret, service_user = register_client("Viewer client")
    consent_grant(patient=alice, grantee_user=service_user, actions=["view", "download"], purposes=["TREAT"])
    ct = scan_upload(uploader=doc, patient=alice, file=dicom_bytes("CT_small.dcm"), file_name="ct.dcm")
    mf_bytes = make_dicom(seed="mf")
    mf = scan_upload(uploader=doc, patient=alice, file=mf_bytes, file_name="mf.dcm")
    return World(
        alice=alice,
        doc=doc,
        outsider=ClinicianFactory(),
        client_user=service_user,
        client_id=client_id,
        client_secret=secret,
        ct=ct,
        multiframe=mf,
        multiframe_bytes=mf_bytes,
    )


def bearer_client(
    base_url: str, http, client_id: str, secret: str, scope="scans:read scans:write", **headers
):
    """The real dicomweb-client with a client-credentials token from /o/token/."""
    token = fetch_token(http, client_id, secret, scope)
    return DICOMwebClient(
        url=f"{base_url}/dicomweb",
        headers={"Authorization": f"Bearer {token}", **headers},
        chunk_size=8 << 20,
    )


def session_client(base_url: str, http, user, **headers):
    """The real dicomweb-client riding a portal session (second factor verified)."""
    login_verified(http, user)
    session = requests.Session()
    session.cookies.set("sessionid", http.cookies["sessionid"].value)
    return DICOMwebClient(url=f"{base_url}/dicomweb", session=session, headers=headers, chunk_size=8 << 20)


def today() -> date:
    from django.utils import timezone

    return timezone.localdate()
