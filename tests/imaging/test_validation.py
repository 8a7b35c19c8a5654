"""Pure validation / decode / preprocess tests (no database)."""

import hashlib
import io

import cv2
import numpy as np
import pydicom
import pytest

from imaging import decode, preprocess
from imaging.validation import UploadRejected, inspect_header, inspect_upload, sniff_format
from tests.imaging.conftest import dicom_bytes, dicom_without_pixels, jpeg_bytes, png_bytes

LIMITS = {"max_bytes": 64 * 1024 * 1024, "max_pixels": 100_000_000}


def rejected(data, **kw) -> UploadRejected:
    with pytest.raises(UploadRejected) as info:
        inspect_upload(data, **{**LIMITS, **kw})
    assert info.value.message and info.value.status in (400, 413, 415)
    return info.value


@pytest.mark.smoke
@pytest.mark.parametrize(
    "data,fmt",
    [(dicom_bytes("CT_small.dcm"), "dicom"), (png_bytes(64, 48), "png"), (jpeg_bytes(40, 60), "jpeg")],
)
def test_accepts_each_format_by_content(data, fmt):
    insp, dec = inspect_upload(data, **LIMITS)
    assert insp.format == fmt == sniff_format(data[:256])
    assert dec.display.dtype == np.float32 and dec.display.min() >= 0 and dec.display.max() <= 1


@pytest.mark.smoke
def test_bad_inputs_are_refused_with_clear_messages(bomb_png):
    assert rejected(b"").code == "empty"
    good = png_bytes(64, 64)
    assert rejected(good[: len(good) // 2]).code in ("truncated", "undecodable")
    assert rejected(b"this is a text file pretending to be DICOM\n" * 20).status == 415
    e = rejected(dicom_without_pixels())
    assert e.code == "no_pixel_data" and "no pixel data" in e.message
    assert len(bomb_png) < 200_000
    e = rejected(bomb_png)
    assert e.status == 413 and "30000" in e.message
    assert rejected(good, max_bytes=1000).status == 413
    assert rejected(good, content_type="application/pdf").code == "content_type_mismatch"
    assert rejected(b"GIF89a" + b"\x00" * 200).status == 415


def test_bomb_is_refused_from_the_header_without_decoding(bomb_png, monkeypatch):
    monkeypatch.setattr(cv2, "imdecode", lambda *a, **k: pytest.fail("decoded a bomb"))
    with pytest.raises(UploadRejected):
        inspect_header(bomb_png, **LIMITS)


def test_truncated_jpeg_and_dicom():
    j = jpeg_bytes(64, 64)
    assert rejected(j[: len(j) - 200]).code in ("truncated", "undecodable")
    d = dicom_bytes("MR_small.dcm")
    assert rejected(d[:-2000]).status == 400


def _dicom(arr, photometric="MONOCHROME2", frames=1, **extra) -> bytes:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("x", {}, file_meta=meta, preamble=b"\x00" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.PatientName = "Secret^Name"
    ds.PatientID = "ID-12345"
    ds.Rows, ds.Columns = arr.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for k, v in extra.items():
        setattr(ds, k, v)
    ds.PixelData = arr.astype(np.uint16).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_monochrome1_is_inverted_and_window_applied():
    arr = np.tile(np.linspace(0, 4000, 64), (64, 1))
    m2 = decode.decode(_dicom(arr, WindowCenter=2000, WindowWidth=4000), "dicom").display
    m1 = decode.decode(_dicom(arr, "MONOCHROME1", WindowCenter=2000, WindowWidth=4000), "dicom").display
    assert m2[0, 0] < 0.05 and m2[0, -1] > 0.95
    np.testing.assert_allclose(m1, 1 - m2, atol=1e-6)
    narrow = decode.decode(_dicom(arr, WindowCenter=2000, WindowWidth=400), "dicom").display
    assert narrow[0, 0] == 0 and narrow[0, -1] == 1 and 0 < narrow[0, 32] < 1


def test_multiframe_uses_first_frame():
    frames = np.stack([np.full((32, 32), 100), np.full((32, 32), 3000)])
    dec = decode.decode(_dicom(frames, frames=2, WindowCenter=2000, WindowWidth=4000), "dicom")
    assert dec.frames == 2 and dec.display.shape == (32, 32)
    assert float(dec.display.mean()) < 0.1  # frame 0 (dark), not frame 1


def test_16bit_png_keeps_depth():
    data = png_bytes(64, 64, dtype=np.uint16)
    dec = decode.decode(data, "png")
    assert dec.display.dtype == np.float32 and len(np.unique(dec.display)) > 256


@pytest.mark.smoke
def test_preprocess_layout_and_hash_are_documented():
    img = np.random.default_rng(3).random((300, 200)).astype(np.float32)
    m = preprocess.preprocess(img)
    assert m.shape == (128, 128) and m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1
    expected = cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(m, np.clip(expected, 0, 1))
    raw = preprocess.canonical_bytes(m)
    assert len(raw) == 65536 and raw[:4] == np.float32(m[0, 0]).astype("<f4").tobytes()
    assert preprocess.pixel_sha256(m) == hashlib.sha256(m.astype("<f4").tobytes()).hexdigest()
    np.testing.assert_array_equal(preprocess.matrix_from_bytes(raw), m)
    assert preprocess.flatten(m).shape == (16384,)


def test_preview_has_no_patient_identifiers():
    data = _dicom(np.tile(np.linspace(0, 4000, 64), (64, 1)))
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.PatientName == "Secret^Name"
    png = preprocess.render_preview(decode.decode(data, "dicom").display)
    assert png.startswith(b"\x89PNG") and b"Secret" not in png and b"ID-12345" not in png
    assert b"tEXt" not in png and b"iTXt" not in png and b"zTXt" not in png
