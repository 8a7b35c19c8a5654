import hashlib
import json

import cv2
import numpy as np
import pytest

from imaging.ml import contract
from imaging.ml.api import ARTIFACT_DIR, evaluate, load_model
from imaging.ml.contract import InputError


def test_artifact_hash_matches_bytes_and_card():
    card = json.loads((ARTIFACT_DIR / "classical.json").read_text())
    data = (ARTIFACT_DIR / "classical.npz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == card["sha256"]
    assert len(data) < 5 * 1024 * 1024
    assert card["sha256"] in (ARTIFACT_DIR / "classical.md").read_text()
    m1, m2 = load_model("classical"), load_model("classical")
    assert m1.sha256 == m2.sha256 == card["sha256"]


def test_tampered_artifact_refused(tmp_path):
    for ext in ("npz", "json"):
        (tmp_path / f"classical.{ext}").write_bytes((ARTIFACT_DIR / f"classical.{ext}").read_bytes())
    data = bytearray((tmp_path / "classical.npz").read_bytes())
    data[-100] ^= 1
    (tmp_path / "classical.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match the model card"):
        load_model("classical", tmp_path)


def test_validation_reproduces_model_card(classical_model, val_split):
    card = json.loads((ARTIFACT_DIR / "classical.json").read_text())
    got = evaluate(classical_model, val_split.images, val_split.labels)
    assert got["n"] == 524 and got["model_id"] == card["model_id"]
    for k in ("auc", "acc", "sensitivity", "specificity"):
        assert got[k] == pytest.approx(card["validation"][k], abs=1e-9), k


def test_predict_api_and_batch_agree(classical_model, val_split):
    imgs = np.stack([contract.pipeline_preprocess(im) for im in val_split.images[:20]])
    batch = classical_model.predict_batch(imgs)
    for img, (label, p) in zip(imgs, batch, strict=True):
        label1, p1 = classical_model.predict(img)
        assert label1 == label and p1 == pytest.approx(p, abs=1e-5)
        assert label in ("normal", "pneumonia") and 0.0 <= p <= 1.0
        assert (label == "pneumonia") == (p >= classical_model.threshold)


def test_same_answer_whatever_route(classical_model, val_split):
    """Same pixels via PNG, via 16-bit PNG, via a 128x128 upload, via float → same answer."""
    for raw in val_split.images[:10]:
        direct = classical_model.predict(contract.pipeline_preprocess(raw))
        ok, png = cv2.imencode(".png", raw)
        decoded = cv2.imdecode(png, cv2.IMREAD_UNCHANGED)
        via_png = classical_model.predict(contract.pipeline_preprocess(decoded))
        ok16, png16 = cv2.imencode(".png", raw.astype(np.uint16) * 257)
        via_png16 = classical_model.predict(
            contract.pipeline_preprocess(cv2.imdecode(png16, cv2.IMREAD_UNCHANGED))
        )
        bgr = cv2.imdecode(png, cv2.IMREAD_COLOR)
        via_colour = classical_model.predict(contract.pipeline_preprocess(bgr))
        # the same image as a 128x128 uint8 upload, handed to the model unpreprocessed
        as_uint8_128 = classical_model.predict(
            np.rint(contract.pipeline_preprocess(raw) * 255).astype(np.uint8)
        )
        for other in (via_png, via_png16, via_colour):
            assert other[0] == direct[0] and other[1] == pytest.approx(direct[1], abs=1e-6)
        assert as_uint8_128[0] == direct[0] and as_uint8_128[1] == pytest.approx(direct[1], abs=0.02)


def test_model_grid_route_equals_api_route(classical_model, val_split):
    """evaluate() (batch 28→128→28) and predict() on pipeline images give identical scores."""
    grid = contract.medmnist_to_model_grid(val_split.images[:30])
    p_grid = classical_model.proba_grid(grid)
    p_api = classical_model.predict_proba_batch(
        np.stack([contract.pipeline_preprocess(i) for i in val_split.images[:30]])
    )
    assert np.abs(p_grid - p_api).max() < 1e-5


def test_wrong_size_resized_or_refused(classical_model, val_split):
    x = contract.pipeline_preprocess(val_split.images[0])
    big = cv2.resize(x, (256, 256), interpolation=cv2.INTER_NEAREST)
    assert classical_model.predict(big)[0] == classical_model.predict(x)[0]
    with pytest.raises(InputError):
        classical_model.predict(x * 255.0)
    with pytest.raises(InputError):
        classical_model.predict(np.zeros((3, 128, 128), np.float32))


def test_numpy_inference_equals_sklearn_smoke_fit(val_split):
    """Tiny fit: the exported numpy model reproduces scikit-learn's decision function."""
    from imaging.ml.classical import ClassicalModel, _fit_svc, export_arrays
    from imaging.ml.features import features

    grid = contract.medmnist_to_model_grid(val_split.images[:120])
    F = features(grid)
    pipe = _fit_svc(F, val_split.labels[:120], 10, 1.0, 0)
    model = ClassicalModel(
        export_arrays(pipe, (1.0, 0.0)), {"model_id": "t", "version": "0", "threshold": 0.5}, ""
    )
    assert np.abs(model.decision_function_grid(grid) - pipe.decision_function(F)).max() < 1e-3


def test_features_shape_and_invariance():
    from imaging.ml.features import features

    x = contract.medmnist_to_model_grid(
        np.random.default_rng(1).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    )
    f = features(x)
    assert f.shape == (3, 2080) and f.dtype == np.float32
    # per-image standardisation + HOG block norms: brightness/contrast changes barely move features
    g = features(np.clip(x * 0.8 + 0.1, 0, 1))
    assert np.abs(f - g).max() < 1e-2


def test_the_last_single_images_features_are_reused_and_never_shared():
    from imaging.ml import features as fmod

    rng = np.random.default_rng(7)
    a, b = rng.random((1, 28, 28), dtype=np.float32), rng.random((1, 28, 28), dtype=np.float32)
    first = fmod.features(a)
    np.testing.assert_array_equal(first, fmod._compute(a))
    first[:] = 0  # a caller's change to its copy does not reach the next caller
    again = fmod.features(a.copy())
    np.testing.assert_array_equal(again, fmod._compute(a))
    np.testing.assert_array_equal(fmod.features(b), fmod._compute(b))  # other pixels: computed anew
    batch = np.concatenate([a, b])
    np.testing.assert_array_equal(fmod.features(batch), fmod._compute(batch))  # batches are not kept
