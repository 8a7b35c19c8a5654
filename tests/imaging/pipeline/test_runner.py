"""The runner's one log line per scan: every stage's time, no patient data."""

import logging
import re

import pytest

from imaging import pipeline
from imaging.models import Scan, ScanStatus
from tests.imaging.conftest import cxr_png_bytes, png_bytes, upload_file


def _lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "imaging.pipeline.runner"]


@pytest.mark.django_db
def test_a_finished_scan_logs_one_line_with_each_stages_time_and_no_patient_data(patient, caplog):
    from imaging.services import scan_upload

    # a chest X-ray, so that the scan gets a label and a probability that must not be logged
    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(cxr_png_bytes(0), "a.png"))
    with caplog.at_level(logging.DEBUG, logger="imaging.pipeline"):
        assert pipeline.run(scan.pk) == ScanStatus.DONE
    (line,) = _lines(caplog)
    assert line.startswith(f"scan {scan.pk} done ms: ")
    times = dict(re.findall(r"(\w+)=([\d.]+)", line))
    assert set(times) == {"total", "claim", "preprocess", "diagnose", "seal", "store", "record"}
    scan = Scan.objects.get(pk=scan.pk)
    assert scan.diagnosis_label and scan.diagnosis_probability is not None
    everything = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("imaging.pipeline"))
    for private in (
        patient.username,
        str(patient.pk),
        scan.diagnosis_label,
        str(scan.diagnosis_probability),
        scan.pixel_sha256,
        scan.original_sha256,
    ):
        assert private not in everything


@pytest.mark.django_db
def test_a_failed_scan_logs_one_line_without_the_reason(patient, caplog, monkeypatch):
    from imaging.pipeline import prepare
    from imaging.services import scan_upload

    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 48), "a.png"))

    def broken(*args, **kwargs):
        raise pipeline.PipelineFailure(f"The image of {patient.username} could not be decoded")

    monkeypatch.setattr(prepare, "prepare", broken)
    with caplog.at_level(logging.DEBUG, logger="imaging.pipeline"), pytest.raises(pipeline.PipelineFailure):
        pipeline.run(scan.pk)
    (line,) = _lines(caplog)
    assert line.startswith(f"scan {scan.pk} failed (PipelineFailure) ms: ") and "preprocess=" in line
    assert patient.username not in line
