"""Stage 5 (`imaging.pipeline.record`): done, the objects and `scan.registered` together."""

import pytest

from imaging import pipeline
from imaging.models import Scan, ScanStatus
from imaging.pipeline.record import ledger_payload, manifest_sha256
from ledger.models import PendingEvent
from tests.imaging.conftest import png_bytes, upload_file


@pytest.mark.django_db
def test_a_recorded_scan_has_its_objects_and_one_event_whose_payload_names_them(patient):
    from imaging.services import scan_upload

    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 48), "a.png"))
    assert pipeline.run(scan.pk) == ScanStatus.DONE
    scan = Scan.objects.get(pk=scan.pk)
    objects = list(scan.blobs.all())
    assert {o.kind for o in objects} == {"original", "preview", "matrix"}
    payload, fingerprints = ledger_payload(scan, objects=objects)
    assert payload["manifest_sha256"] == manifest_sha256(objects)
    assert payload["patient"] != str(patient.pk) and str(patient.pk) not in str(payload)
    assert fingerprints[f"pixels-preprocess-v{scan.preprocess_version}"] == scan.pixel_sha256
    assert PendingEvent.objects.filter(event_id=pipeline.ledger_event_id(scan.pk)).count() == 1
