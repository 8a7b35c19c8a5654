"""Stage 4 (`imaging.pipeline.store`): staging wraps the keys and records the CIDs before any
blob is written; the puts then write exactly those blobs."""

import pytest

from imaging.models import Scan, ScanStatus, StagedObject
from imaging.pipeline import seal, store
from imaging.pipeline.status import DERIVED_KINDS
from imaging.storage import LocalCAS
from portal.keys import unwrap_for
from tests.imaging.conftest import png_bytes, upload_file


@pytest.mark.django_db
def test_staging_wraps_each_key_and_records_each_cid_once_then_the_puts_write_those_blobs(patient, settings):
    from imaging.services import scan_upload

    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(png_bytes(64, 48), "a.png"))
    Scan.objects.filter(pk=scan.pk).update(status=ScanStatus.ENCRYPTING)
    scan.status = ScanStatus.ENCRYPTING
    sealed = seal.seal_all(scan.pk, {kind: kind.encode() * 10 for kind in DERIVED_KINDS}, neqr_layer=False)

    ciphertexts, rows = store.stage(scan, sealed)
    assert Scan.objects.get(pk=scan.pk).status == ScanStatus.STORING
    assert {r.kind: r.cid for r in StagedObject.objects.filter(scan=scan)} == {
        k: s.cid for k, s in sealed.items()
    }
    for obj in sealed.values():
        assert unwrap_for(object_id=obj.object_id, reader=None) == obj.key
        assert unwrap_for(object_id=obj.object_id, reader=patient) == obj.key
    assert store.stage(scan, sealed) == ({}, [])  # a second delivery stages nothing new

    blobs = LocalCAS(settings.QMC_BLOB_DIR)
    cids = store.put_all(blobs, [(r, ciphertexts[r.id]) for r in rows])
    assert sorted(cids) == sorted(s.cid for s in sealed.values())
    assert all(blobs.exists(c) for c in cids)
