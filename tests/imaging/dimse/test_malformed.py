"""Bad data over C-STORE: each instance gets the standard's failure status (C000 Cannot
understand), nothing of it is kept (no scan, no study, no queued instance, no blob), the
instances beside it in the same association are stored, and the SCP keeps serving."""

from __future__ import annotations

import io

import pytest

from imaging.models import PendingInstance, Scan, ScanObject, Series, StagedObject, Study
from tests.conftest import wait_for
from tests.imaging.conftest import blob_files, dicom_without_pixels
from tests.imaging.dimse.conftest import dicom_file, echoscu, instance, storescu

pytestmark = pytest.mark.django_db(transaction=True)


def snapshot() -> dict:
    return {
        "scans": Scan.objects.count(),
        "studies": Study.objects.count(),
        "series": Series.objects.count(),
        "pending": PendingInstance.objects.count(),
    }


def orphan_blobs() -> set[str]:
    """Blobs no row refers to. Counting all blobs would race the session's worker, which may be
    writing the derived objects of this or an earlier test's scans."""
    referenced = set()
    for model in (ScanObject, StagedObject, PendingInstance):
        referenced |= set(model.objects.values_list("cid", flat=True))
    return blob_files() - referenced


def truncated_pixels(*, seed: str, **patient) -> bytes:
    """Rows x Columns promise more pixels than the Pixel Data holds."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(instance(seed=seed, **patient)))
    ds.PixelData = ds.PixelData[:100]
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def bad_uid(*, seed: str) -> bytes:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(instance(seed=seed)))
    with pytest.warns(UserWarning, match="Invalid value for VR UI"):
        ds.StudyInstanceUID = "1.2.840.not-a-uid"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("linked", [True, False], ids=["linked-patient", "unmatched-patient"])
def test_malformed_instances_fail_alone_and_leave_nothing(scp, site, tmp_path, linked):
    patient = {} if linked else {"patient_id": "MRN-0777"}
    bad = [
        instance(seed="no-study", drop=("StudyInstanceUID",), **patient),
        bad_uid(seed="bad-uid"),
        truncated_pixels(seed="truncated", **patient),
        dicom_without_pixels(),  # an RT Plan: no image to process
    ]
    good = instance(seed="good", **patient)
    before, orphans_before, blobs_before = snapshot(), orphan_blobs(), blob_files()
    run = storescu(scp, *(dicom_file(tmp_path, data, f"{i}.dcm") for i, data in enumerate([*bad, good])))
    assert run.statuses == [0xC000] * len(bad) + [0x0000], run.output
    expected = dict(before)
    if linked:
        expected.update(scans=before["scans"] + 1, studies=before["studies"] + 1, series=before["series"] + 1)
    else:
        expected.update(pending=before["pending"] + 1)
    assert snapshot() == expected
    assert blob_files() - blobs_before, "the good instance was stored"
    # nothing of the bad instances is left (a blob being written by the pipeline gets its row at once)
    wait_for(lambda: orphan_blobs() <= orphans_before, timeout=30, what="no new orphan blob")
    assert scp.alive() and "Received Echo Response (Status: 0x0000" in echoscu(scp).output
