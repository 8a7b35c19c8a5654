"""Stage 2 (`imaging.pipeline.diagnose`) as a plain function of the matrix and the model."""

import numpy as np

from imaging import diagnosis, preprocess
from imaging.pipeline.diagnose import diagnose, qwalk_fingerprint


def _matrix():
    return np.random.default_rng(3).random((128, 128)).astype(np.float32)


def test_diagnose_gives_the_models_prediction_and_the_fingerprint():
    m = _matrix()
    model = diagnosis.load("classical")
    found = diagnose(m, preprocess.pixel_sha256(m), model=model)
    assert found["qwalk_hash"] == qwalk_fingerprint(m, preprocess.pixel_sha256(m))
    assert found["model_sha256"] == model.sha256 and found["model_id"] == model.model_id
    # random noise is no chest X-ray: the applicability gate refuses it (no label, no probability)
    assert found["diagnosis_applicable"] is False and found["diagnosis_probability"] is None
    assert found["diagnosis_label"] == "" and found["diagnosis_reason"].startswith("not applicable")
    assert found == diagnose(m, preprocess.pixel_sha256(m), model=model)  # deterministic


def test_a_chest_xray_gets_the_models_prediction():
    import cv2

    from tests.imaging.conftest import cxr_png_bytes

    raw = cv2.imdecode(np.frombuffer(cxr_png_bytes(0), np.uint8), cv2.IMREAD_UNCHANGED)
    m = preprocess.preprocess(raw.astype(np.float32) / 255)
    model = diagnosis.load("classical")
    found = diagnose(m, preprocess.pixel_sha256(m), model=model)
    assert found["diagnosis_applicable"] is True and found["diagnosis_reason"] == ""
    assert (
        found["diagnosis_label"] in ("normal", "pneumonia") and 0.0 <= found["diagnosis_probability"] <= 1.0
    )


def test_a_redelivery_computes_only_what_the_scan_lacks():
    m = _matrix()
    assert diagnose(m, preprocess.pixel_sha256(m), model=None, fingerprint=False) == {}
    assert set(diagnose(m, preprocess.pixel_sha256(m), model=None)) == {"qwalk_hash"}
