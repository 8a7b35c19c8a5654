"""Fault injection (`imaging.pipeline.faults`) is off in production: the test switches in the
environment do nothing unless the QMC_FAULTS setting is on."""

import time

import pytest

from imaging import pipeline
from imaging.models import ScanStatus
from imaging.pipeline import faults
from imaging.storage import StorageUnavailable
from tests.imaging.conftest import png_bytes, upload_file


@pytest.mark.django_db
def test_the_storage_outage_switch_is_ignored_unless_faults_are_on(patient, monkeypatch, tmp_path, settings):
    """An environment variable alone (a leftover, or set by someone who can set one) must
    not take a worker's storage down."""
    from imaging.services import scan_upload

    flag = tmp_path / "storage-down"
    flag.touch()
    monkeypatch.setenv("QMC_TEST_STORAGE_DOWN_FILE", str(flag))
    settings.QMC_FAULTS = False
    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 48), "a.png"))
    assert pipeline.run(scan.pk) == ScanStatus.DONE

    settings.QMC_FAULTS = True  # the tests' worker: the switch works
    again = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 48), "b.png"))
    with pytest.raises(StorageUnavailable):
        pipeline.run(again.pk)


def test_stage_delays_are_ignored_unless_faults_are_on(monkeypatch, settings):
    monkeypatch.setenv("QMC_TEST_STAGE_DELAY", "storing=0.3")
    settings.QMC_FAULTS = False
    t0 = time.monotonic()
    faults.point("storing")
    assert time.monotonic() - t0 < 0.2
    settings.QMC_FAULTS = True
    t0 = time.monotonic()
    faults.point("storing")
    assert time.monotonic() - t0 >= 0.3
