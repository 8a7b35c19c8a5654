"""The DICOM instance a PNG or JPEG upload is served as: a Secondary Capture Image (PS3.3
A.8.1) with the scan's generated UIDs and the decoded pixels, uncompressed (pure module, no
Django).

Built on request from the decrypted upload and never stored. The same upload gives the same
bytes every time. No patient attribute is filled in: the Type 2 ones are present and empty
(the portal knows who the patient is, and a raster file carries no identity of its own)."""

from __future__ import annotations

import io
from datetime import date

import cv2
import numpy as np

from imaging.dicom.identity import SECONDARY_CAPTURE, InstanceIdentity

IMPLEMENTATION_CLASS_UID = "2.25.146476958164168800025404343699618027770.1"
IMPLEMENTATION_VERSION = "QMEDCHAIN_1"


class RasterError(ValueError):
    """The PNG/JPEG upload cannot be decoded into pixels."""


def raster_pixels(data: bytes) -> np.ndarray:
    """The upload's pixels: (H, W) gray or (H, W, 3) RGB, 8 or 16 bits."""
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise RasterError("the image could not be decoded")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    elif img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.dtype not in (np.uint8, np.uint16):
        raise RasterError(f"unsupported pixel type {img.dtype}")
    out: np.ndarray = np.ascontiguousarray(img)
    return out


def wrap_raster(data: bytes, identity: InstanceIdentity, *, study_date: date | None) -> bytes:
    """DICOM Part 10 bytes of the secondary capture that PNG/JPEG `data` is."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian

    pixels = raster_pixels(data)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE)
    meta.MediaStorageSOPInstanceUID = UID(identity.sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\x00" * 128)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = identity.sop_instance_uid
    ds.StudyDate = study_date.strftime("%Y%m%d") if study_date else ""
    ds.StudyTime = ""
    ds.AccessionNumber = ""
    ds.Modality = identity.modality or "OT"
    ds.ConversionType = "WSD"  # workstation
    ds.ReferringPhysicianName = ""
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = identity.study_uid
    ds.SeriesInstanceUID = identity.series_uid
    ds.StudyID = ""
    ds.SeriesNumber = identity.series_number or 1
    ds.InstanceNumber = identity.instance_number or 1
    ds.PatientOrientation = ""
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    color = pixels.ndim == 3
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = "RGB" if color else "MONOCHROME2"
    if color:
        ds.PlanarConfiguration = 0
    bits = 16 if pixels.dtype == np.uint16 else 8
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<"), copy=False).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
