"""The applicability gate's out-of-distribution detector (imaging.ml.ood) on the committed
artifact: chest X-rays of the validation split pass, noise / flat / CT / US / photographs /
rotated and inverted chest X-rays are refused, at the measured rates."""

import hashlib
import json

import numpy as np
import pytest

from imaging.ml import contract, ood, ood_set
from imaging.ml.artifacts import ARTIFACT_DIR


@pytest.fixture(scope="module")
def detector():
    return ood.load_detector()


@pytest.fixture(scope="module")
def ood_items(val_split):
    from imaging.decode import decode

    return ood_set.build(val_split.images, decode=decode)


def test_artifact_is_verified_on_load(tmp_path):
    data = (ARTIFACT_DIR / "ood.npz").read_bytes()
    card = json.loads((ARTIFACT_DIR / "ood.json").read_text())
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    (tmp_path / "ood.npz").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    (tmp_path / "ood.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="SHA-256"):
        ood.load_detector(tmp_path)


def test_validation_chest_xrays_pass(detector, val_split):
    scores = detector.scores_grid(contract.medmnist_to_model_grid(val_split.images))
    rate = float((scores <= detector.threshold).mean())
    assert rate >= 0.99, rate  # target: >= 99 % of chest X-rays applicable
    assert rate == pytest.approx(detector.card["evaluation"]["id_validation"]["pass_rate"], abs=1e-4)


def test_ood_set_is_refused(detector, ood_items):
    cats = {o.category for o in ood_items}
    assert {
        "dicom-ct",
        "dicom-mr",
        "dicom-us",
        "skimage",
        "noise",
        "flat",
        "rotated-cxr",
        "inverted-cxr",
    } <= cats
    scores = detector.scores(np.stack([o.image for o in ood_items]).astype(np.float32))
    refused = scores > detector.threshold
    assert refused.mean() >= 0.99, refused.mean()  # target: >= 99 % refused
    by = {c: refused[[o.category == c for o in ood_items]].mean() for c in cats}
    # every medical non-CXR category, noise and flat images: all refused
    for c in cats - {"rotated-cxr", "skimage"}:
        assert by[c] == 1.0, (c, by[c])
    assert by["rotated-cxr"] >= 0.98 and by["skimage"] >= 0.96


def test_auroc_matches_the_card(detector, val_split, ood_items):
    ev = ood.evaluate(detector, contract.medmnist_to_model_grid(val_split.images), ood_items)
    assert ev["auroc"] >= 0.99
    assert ev == detector.card["evaluation"]  # the stored numbers are reproduced from the artifact


def test_noise_flat_single_images(detector):
    rng = np.random.default_rng(123)
    for img in (
        rng.random((128, 128), dtype=np.float32),
        np.zeros((128, 128), np.float32),
        np.full((128, 128), 0.5, np.float32),
    ):
        r = detector.check(img)
        assert not r.applicable and r.score > r.threshold


def test_auroc_helper_against_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(1, size=40)
    b[:5] = a[:5]  # ties
    want = roc_auc_score(np.r_[np.zeros(50), np.ones(40)], np.r_[a, b])
    assert ood.auroc(a, b) == pytest.approx(want)


def test_threshold_keeps_the_quantile():
    s = np.arange(1000, dtype=float)
    t = ood.threshold_for(s, 0.995)
    assert (s <= t).mean() >= 0.995 and (s <= t - 1).mean() < 0.995


def test_ood_set_resize_is_the_pipeline_preprocess():
    from imaging import preprocess

    img = np.random.default_rng(1).random((300, 200), dtype=np.float32)
    assert np.array_equal(ood_set._pipeline(img), preprocess.preprocess(img))
