"""The DICOM pieces without Django: QIDO query parsing, multipart bodies, frames, UIDs, the
secondary capture, rendering parameters."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pydicom
import pytest

from imaging.dicom import frames, identity, multipart, query, render, secondary_capture
from imaging.validation import UploadRejected
from tests.imaging.dicomweb.conftest import frame_pixels, make_dicom

ROOT = "2.25.146476958164168800025404343699618027770."


@pytest.mark.parametrize(
    "text,start,end",
    [
        ("20240315", date(2024, 3, 15), date(2024, 3, 15)),
        ("20240101-20241231", date(2024, 1, 1), date(2024, 12, 31)),
        ("-20100101", None, date(2010, 1, 1)),
        ("20100101-", date(2010, 1, 1), None),
    ],
)
def test_date_ranges(text, start, end):
    assert query.parse_date_range(text) == query.DateRange(start, end)


@pytest.mark.parametrize(
    "text", ["2024", "2024-03-15", "20240230", "20240301-20240201", "-", "a-b", "20240101--"]
)
def test_malformed_date_ranges(text):
    with pytest.raises(query.QueryError):
        query.parse_date_range(text)


def test_a_query_by_keyword_or_tag_with_its_controls():
    q = query.parse(
        "series",
        [
            ("0020000D", ["1.2.3,1.2.4"]),
            ("Modality", ["mr"]),
            ("includefield", ["StudyDate,00100010", "all"]),
            ("limit", ["10"]),
            ("offset", ["5"]),
            ("fuzzymatching", ["false"]),
            ("purpose", ["TREAT"]),
            ("SeriesNumber", [""]),  # universal matching
        ],
    )
    assert q.match == {"StudyInstanceUID": frozenset({"1.2.3", "1.2.4"}), "Modality": "MR"}
    assert q.include == {"StudyDate", "PatientName"} and q.include_all
    assert (q.limit, q.offset, q.fuzzy) == (10, 5, False)
    assert query.parse("study", [("Modality", ["CT"])]).match == {"ModalitiesInStudy": "CT"}


@pytest.mark.parametrize(
    "level,params",
    [
        ("study", [("SeriesInstanceUID", ["1.2"])]),
        ("series", [("ModalitiesInStudy", ["CT"])]),
        ("instance", [("Modality", ["CT"]), ("00080060", ["MR"])]),
        ("instance", [("StudyDate", ["20240101", "20240102"])]),
        ("instance", [("PatientBirthDate", ["19700101"])]),
        ("instance", [("ReferencedSOPSequence.ReferencedSOPInstanceUID", ["1.2"])]),
        ("instance", [("InstanceNumber", ["one"])]),
    ],
)
def test_refused_queries(level, params):
    with pytest.raises(query.QueryError):
        query.parse(level, params)


def test_multipart_round_trip_and_the_client_encoding():
    parts = [
        ("application/dicom", b"\r\n--x-not-the-boundary\r\n" + bytes(range(256))),
        ("application/dicom", b""),
    ]
    body = multipart.encode(parts, "b0und")
    got = multipart.split(b"preamble\r\n" + body, "b0und")
    assert [(p.media_type, p.content) for p in got] == parts
    no_headers = b"--b\r\n\r\ncontent\r\n--b--"
    assert multipart.split(no_headers, "b")[0].content == b"content"


@pytest.mark.parametrize(
    "body",
    [b"", b"--b\r\nContent-Type: x\r\n\r\nunterminated", b"--b\r\nBad header\r\n\r\nx\r\n--b--", b"--bx\r\n"],
)
def test_malformed_multipart(body):
    with pytest.raises(multipart.MultipartError):
        multipart.split(body, "b")


def test_media_type_parameters():
    media, params = multipart.media_type_params('Multipart/Related; type="application/dicom"; boundary="a;b"')
    assert media == "multipart/related" and params == {"type": "application/dicom", "boundary": "a;b"}


def test_native_frames_are_cut_and_compressed_ones_decoded_to_the_same_bytes():
    from pydicom.uid import RLELossless

    pixels = frame_pixels(4)
    ds = pydicom.dcmread(io.BytesIO(make_dicom(seed="f", pixels=pixels)))
    assert [frames.frame_bytes(ds, n) for n in (1, 4)] == [pixels[0].tobytes(), pixels[3].tobytes()]
    ds.compress(RLELossless)
    assert frames.frame_bytes(ds, 2) == pixels[1].astype("<u2").tobytes()
    assert frames.parse_frame_list("2,1,2", 4) == [2, 1, 2]
    with pytest.raises(frames.FrameError) as missing:
        frames.parse_frame_list("5", 4)
    assert missing.value.status == 404


def test_uids():
    assert identity.is_uid("1.2.840.10008.1.2.1") and identity.is_uid("0.1")
    assert not any(identity.is_uid(v) for v in ("1.02", "1..2", "1.2.", "a.1", "1" * 65, "", None))
    a = identity.generated_uid(ROOT, "scan-1", "study")
    assert (
        a
        == identity.generated_uid(ROOT, "scan-1", "study")
        != identity.generated_uid(ROOT, "scan-1", "series")
    )
    assert a.startswith(ROOT) and len(a) <= 64 and identity.is_uid(a)


def test_the_identity_of_a_file_without_a_series_uid_is_refused():
    ds = pydicom.dcmread(io.BytesIO(make_dicom(seed="s")))
    del ds.SeriesInstanceUID
    with pytest.raises(UploadRejected) as refused:
        identity.dicom_identity(ds)
    assert refused.value.code == "no_study_or_series_uid"


def test_a_secondary_capture_is_deterministic_and_carries_no_identity():
    import cv2

    rgb = np.dstack([np.full((8, 6), v, np.uint8) for v in (10, 20, 30)])
    png = cv2.imencode(".png", rgb[:, :, ::-1])[1].tobytes()
    ident = identity.generated_identity(ROOT, "scan-2")
    data = secondary_capture.wrap_raster(png, ident, study_date=date(2024, 1, 2))
    assert data == secondary_capture.wrap_raster(png, ident, study_date=date(2024, 1, 2))
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.PhotometricInterpretation == "RGB" and ds.StudyDate == "20240102"
    np.testing.assert_array_equal(ds.pixel_array, rgb)
    assert ds.PatientName == "" and ds.PatientID == ""


def test_rendering_parameters():
    assert render.parse_window("40,400") == (40.0, 400.0, "LINEAR")
    assert render.parse_window("-600.5,1500,sigmoid") == (-600.5, 1500.0, "SIGMOID")
    assert render.parse_viewport("64,32") == (64, 32)
    for bad in ("40", "40,0", "a,b", "40,400,cubic"):
        with pytest.raises(render.RenderError):
            render.parse_window(bad)
    image = render.fit(np.zeros((100, 50), np.float32), (20, 20))
    assert image.shape == (20, 10)
