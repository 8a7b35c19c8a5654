"""The CNN: ONNX Runtime inference, SHA-256-checked artifact, calibration, CAM saliency."""

import shutil

import numpy as np
import pytest

from imaging.ml import contract
from imaging.ml.api import load_model
from imaging.ml.artifacts import ARTIFACT_DIR, read_artifact
from imaging.ml.calibration import sigmoid
from imaging.ml.cnn import CNNModel, cam_to_saliency


@pytest.fixture(scope="module")
def cnn():
    return load_model("cnn")


def test_artifact_loads_and_its_sha_matches_the_card(cnn):
    _, card, digest = read_artifact("cnn")
    assert cnn.sha256 == digest == card["sha256"]
    assert cnn.model_id == card["model_id"] and 0 < cnn.threshold < 1


def test_tampered_artifact_is_refused(tmp_path):
    for suffix in ("npz", "json", "md"):
        shutil.copy(ARTIFACT_DIR / f"cnn.{suffix}", tmp_path / f"cnn.{suffix}")
    load_model("cnn", tmp_path)  # the untouched copy loads
    data = bytearray((tmp_path / "cnn.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "cnn.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        load_model("cnn", tmp_path)


def test_prediction_is_deterministic_and_matches_raw_onnx_and_the_recorded_reference(cnn, val_split):
    import onnxruntime as ort

    arrays, card, _ = read_artifact("cnn")
    grid = contract.medmnist_to_model_grid(val_split.images[:32])
    sess = ort.InferenceSession(arrays["onnx"].tobytes(), providers=["CPUExecutionProvider"])
    raw_logit, fmap = sess.run(None, {"image": grid[:, None]})
    assert fmap.shape == (32, cnn._head_w.size, 7, 7)
    p1 = cnn.proba_grid(grid)
    p2 = cnn.proba_grid(grid)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_allclose(p1, sigmoid(raw_logit / float(arrays["temperature"])), atol=1e-6)
    # the linear head stored beside the graph is the graph's own: GAP(features) . w + b == logit
    np.testing.assert_allclose(fmap.mean(axis=(2, 3)) @ cnn._head_w + cnn._head_b, raw_logit, atol=1e-4)
    ref = card["reference"]
    np.testing.assert_allclose(cnn.logit_grid(grid[ref["indices"]]), ref["logit"], atol=1e-4)


def test_single_batch_and_pipeline_images_agree(cnn, val_split):
    imgs = np.stack([contract.pipeline_preprocess(im) for im in val_split.images[:6]])
    batch = cnn.predict_batch(imgs)
    singles = [cnn.predict(im) for im in imgs]
    for (lb, pb), (ls, ps) in zip(batch, singles, strict=True):
        assert lb == ls and abs(pb - ps) < 1e-5
        assert lb == ("pneumonia" if pb >= cnn.threshold else "normal")


def test_calibrated_probability_is_monotonic_in_the_logit(cnn, val_split):
    grid = contract.medmnist_to_model_grid(val_split.images[:200])
    z = cnn.logit_grid(grid)
    p = cnn.proba_grid(grid)
    assert np.all((p >= 0) & (p <= 1))
    order = np.argsort(z)
    assert np.all(np.diff(p[order]) >= -1e-12)
    assert cnn.temperature > 0


def test_cnn_discriminates_on_validation(cnn, val_split):
    from imaging.ml.api import evaluate

    m = evaluate(cnn, val_split.images, val_split.labels)
    assert m["auc"] > 0.95 and m["acc"] > 0.85


def test_saliency_shape_range(cnn, val_split):
    im = contract.pipeline_preprocess(val_split.images[int(np.argmax(val_split.labels))])
    s = cnn.saliency(im)
    assert s.shape == (128, 128) and s.dtype == np.float32
    assert s.min() >= 0.0 and s.max() <= 1.0
    assert s.max() == pytest.approx(1.0) or s.max() == 0.0


def test_saliency_after_predict_reuses_the_run_but_never_a_different_images(cnn, val_split):
    a, b = (contract.pipeline_preprocess(val_split.images[i]) for i in (0, 1))
    fresh = CNNModel(*read_artifact("cnn"))
    sal_a, sal_b = fresh.saliency(a), fresh.saliency(b)
    cnn.predict(a)
    np.testing.assert_array_equal(cnn.saliency(a), sal_a)
    np.testing.assert_array_equal(cnn.saliency(b), sal_b)  # not the cached image's map
    assert not np.array_equal(sal_a, sal_b)
    assert cnn.predict(b) == fresh.predict(b)


class _FakeSession:
    """Stands in for the ONNX session: the feature map is the image's own 7x7 block means."""

    def run(self, _names, feeds):
        x = feeds["image"][:, 0]
        fmap = x.reshape(x.shape[0], 7, 4, 7, 4).mean(axis=(2, 4))[:, None].repeat(2, axis=1)
        logit = fmap.mean(axis=(1, 2, 3))
        return [logit.astype(np.float32), fmap.astype(np.float32)]


def test_cam_highlights_the_region_that_drives_the_logit():
    m = CNNModel.__new__(CNNModel)
    m._last = None
    m._sess = _FakeSession()
    m._head_w = np.array([1.0, 0.5], dtype=np.float32)
    m._head_b = 0.0
    img = np.full((128, 128), 0.1, dtype=np.float32)
    img[20:50, 70:105] = 0.9  # a bright blob, upper right
    s = m.saliency(img)
    blob = s[25:45, 75:100].mean()
    background = s[80:120, 10:50].mean()
    assert blob > 0.8 and background < 0.3 and blob > 3 * background


def test_cam_to_saliency_of_no_evidence_is_zero():
    assert not cam_to_saliency(-np.ones((7, 7))).any()
    s = cam_to_saliency(np.eye(7))
    assert s.shape == (128, 128) and 0.99 <= s.max() <= 1.0


def test_cam_is_faithful_occluding_the_hot_region_lowers_the_logit_more(cnn, val_split):
    """Grey out the hottest vs the coldest 4x4 cell (of the 7x7 CAM) of pneumonia images."""
    idx = np.flatnonzero(val_split.labels == 1)[:40]
    grid = contract.medmnist_to_model_grid(val_split.images[idx])
    base = cnn.logit_grid(grid)
    cams = cnn.cam_grid(grid)
    hot, cold = grid.copy(), grid.copy()
    for i, cam in enumerate(cams):
        for arr, cell in ((hot, np.argmax(cam)), (cold, np.argmin(cam))):
            r, c = divmod(int(cell), 7)
            arr[i, r * 4 : r * 4 + 4, c * 4 : c * 4 + 4] = grid[i].mean()
    drop_hot = (base - cnn.logit_grid(hot)).mean()
    drop_cold = (base - cnn.logit_grid(cold)).mean()
    assert drop_hot > drop_cold


def test_inference_never_imports_torch(val_split):
    """The worker's path (load, predict, saliency) runs on ONNX Runtime alone."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from imaging.ml.api import load_model\n"
        "for k in ('cnn', 'ensemble'):\n"
        "    m = load_model(k)\n"
        "    m.predict(np.zeros((128, 128), np.float32)); m.saliency(np.zeros((128, 128), np.float32))\n"
        "import imaging.ml.cnn_train\n"  # importing the training module alone does not load torch either
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    res = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


@pytest.mark.parametrize("kind", ["cnn", "ensemble"])
def test_evaluate_reproduces_the_cards_final_model_figures(kind, val_split):
    from imaging.ml.api import evaluate

    _, card, _ = read_artifact(kind)
    got = evaluate(load_model(kind), val_split.images, val_split.labels)
    for k in ("auc", "acc", "sensitivity", "specificity"):
        assert got[k] == pytest.approx(card["validation_final_model_in_sample"][k], abs=1e-6), k
    # the headline validation figures are the held-out (out-of-fold) ones, never above the in-sample AUC by much
    assert card["validation"]["n"] == 524 and "out-of-fold" in card["validation"]["source"]
