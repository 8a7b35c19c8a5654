"""The applicability gate's metadata rules (imaging.ml.applicability), as a table."""

import numpy as np
import pytest

from imaging.ml.applicability import NOT_APPLICABLE, Metadata, assess, metadata_check

CASES = [
    # (modality, body part, view, study description) -> applicable by metadata?
    ("", "", "", "", True),  # PNG / JPEG: only the image check decides
    ("CR", "", "", "", True),
    ("DX", "CHEST", "PA", "Chest 2 views", True),
    ("DR", "THORAX", "AP", "", True),
    ("dx", "chest", "ll", "", True),
    ("CR", "", "LATERAL", "XR CHEST PA AND LATERAL", True),
    ("CR", "", "", "Portable study", True),  # a description without a body region says nothing
    ("CT", "CHEST", "", "CT thorax", False),  # chest, but not a radiograph
    ("MR", "", "", "", False),
    ("US", "", "", "", False),
    ("NM", "", "", "", False),
    ("OT", "", "", "", False),
    ("MG", "BREAST", "CC", "", False),
    ("CR", "HAND", "PA", "", False),
    ("DX", "KNEE", "", "", False),
    ("DX", "", "MLO", "", False),
    ("CR", "", "", "XR Left knee 2 views", False),
    ("DX", "", "", "Pelvis AP", False),
]


@pytest.mark.parametrize("modality,body,view,desc,ok", CASES)
def test_metadata_rules(modality, body, view, desc, ok):
    detail = metadata_check(
        Metadata(modality=modality, body_part=body, view_position=view, study_description=desc)
    )
    assert (detail == "") is ok, detail


def test_reason_is_for_a_clinician():
    v = assess(np.zeros((128, 128), np.float32), Metadata(modality="CT"), detector=_never_called())
    assert not v.applicable and v.check == "metadata"
    assert (
        v.reason
        == f"{NOT_APPLICABLE} (the file says it is a CT scan (DICOM modality CT), not a chest radiograph)"
    )


def test_image_check_decides_without_metadata():
    class Refuses:
        def check(self, image):
            from imaging.ml.ood import GateResult

            return GateResult(False, 900.0, 266.0)

    v = assess(np.zeros((128, 128), np.float32), None, detector=Refuses())
    assert not v.applicable and v.check == "image" and v.reason.startswith(NOT_APPLICABLE)


def test_metadata_from_dicom():
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True)
    meta = Metadata.from_dataset(ds)
    assert meta.modality == "CT" and metadata_check(meta)


def _never_called():
    class D:
        def check(self, image):  # pragma: no cover - the metadata check decides first
            raise AssertionError("the image check ran after a metadata refusal")

    return D()
