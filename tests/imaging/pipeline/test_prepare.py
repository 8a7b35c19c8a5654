"""Stage 1 (`imaging.pipeline.prepare`) as a plain function: bytes in, pixels and hash out."""

import numpy as np
import pytest

from imaging import preprocess
from imaging.pipeline import PipelineFailure
from imaging.pipeline.prepare import prepare
from tests.imaging.conftest import dicom_bytes, png_bytes


def test_a_png_is_decoded_and_preprocessed_deterministically():
    a = prepare(png_bytes(96, 80), "png")
    b = prepare(png_bytes(96, 80), "png")
    assert a.matrix.shape == (preprocess.SIZE, preprocess.SIZE) and a.matrix.dtype == np.float32
    assert (a.decoded.width, a.decoded.height) == (80, 96)
    assert a.pixel_sha256 == preprocess.pixel_sha256(a.matrix) == b.pixel_sha256
    assert a.ghost is None


def test_a_dicom_keeps_its_tags():
    got = prepare(dicom_bytes("CT_small.dcm"), "dicom")
    assert got.decoded.modality == "CT"


def test_bytes_that_do_not_decode_are_a_permanent_failure_with_a_clear_message():
    with pytest.raises(PipelineFailure, match="could not be decoded"):
        prepare(b"\x89PNG\r\n\x1a\n not really a png", "png")


def test_ghost_imaging_replaces_the_pixels_with_its_reconstruction():
    plain = prepare(png_bytes(64, 64), "png")
    ghost = prepare(png_bytes(64, 64), "png", ghost={"method": "dgi", "ratio": 0.3, "seed": 7})
    assert ghost.ghost is not None and ghost.ghost.measurements == round(0.3 * 64 * 64)
    assert ghost.pixel_sha256 != plain.pixel_sha256
    assert (
        ghost.pixel_sha256
        == prepare(png_bytes(64, 64), "png", ghost={"method": "dgi", "ratio": 0.3, "seed": 7}).pixel_sha256
    )
