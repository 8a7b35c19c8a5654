"""A processed scan with an encrypted 128x128 matrix, readable like the pipeline leaves it."""

from __future__ import annotations

import numpy as np


def make_matrix_scan(patient, uploader, *, seed: int = 0):
    from crypto import envelope
    from imaging import blobs, preprocess
    from imaging.models import Scan, ScanObject
    from portal import keys
    from portal.consent_selectors import readers_for_scan

    yy, xx = np.mgrid[0:128, 0:128] / 127.0
    rng = np.random.default_rng(seed)
    matrix = np.clip(0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy) + rng.normal(0, 0.02, (128, 128)), 0, 1)
    plain = preprocess.canonical_bytes(matrix.astype(np.float32))
    scan = Scan.objects.create(
        patient=patient,
        uploaded_by=uploader,
        source_format="png",
        original_size=len(plain),
        original_sha256="0" * 64,
        modality="CR",
        status="done",
    )
    obj = ScanObject(scan=scan, kind="matrix", cid="pending", ciphertext_sha256="", plaintext_size=len(plain))
    data_key = envelope.new_data_key()
    blob = envelope.encrypt(plain, data_key, object_id=str(obj.id), kind="matrix", version=1)
    store = blobs.store()
    import hashlib

    obj.cid = store.put(blob)
    obj.ciphertext_sha256 = hashlib.sha256(blob).hexdigest()
    obj.backend = "test"
    obj.save()
    for reader in [None, patient, *readers_for_scan(scan)]:
        keys.wrap_for(object_id=obj.id, patient=patient, data_key=data_key, reader=reader)
    return scan, matrix
