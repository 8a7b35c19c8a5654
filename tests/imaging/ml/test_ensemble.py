"""The ensemble: stacked classical + CNN, component SHA-256 pinned, CAM saliency, PCA features."""

import json
import shutil

import numpy as np
import pytest

from imaging.ml import contract
from imaging.ml.api import DEFAULT_KIND, KINDS, load_model
from imaging.ml.artifacts import ARTIFACT_DIR, read_artifact


@pytest.fixture(scope="module")
def ens():
    return load_model("ensemble")


def test_kinds_and_default():
    assert {"classical", "qcnn", "cnn", "ensemble"} <= set(KINDS)
    assert DEFAULT_KIND in KINDS
    assert load_model("active").model_id == load_model(DEFAULT_KIND).model_id


def test_default_is_the_best_model_on_cross_validation():
    _, card, _ = read_artifact("ensemble")
    comp = card["cv_comparison"]
    best = max(("classical", "cnn", "ensemble"), key=lambda k: comp[k]["pooled"]["auc"])
    assert best == DEFAULT_KIND


def test_probability_is_the_stack_of_the_components(ens, val_split):
    grid = contract.medmnist_to_model_grid(val_split.images[:50])
    p = ens.proba_grid(grid)
    assert np.all((p >= 0) & (p <= 1))
    d = ens.classical.decision_function_grid(grid)
    z = ens.cnn.logit_grid(grid)
    a, b, c = read_artifact("ensemble")[0]["stack_coef"]
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-(a * d + b * z + c))), atol=1e-9)
    assert a > 0 and b > 0  # both models push towards pneumonia


def test_ensemble_discriminates_on_validation(ens, val_split):
    from imaging.ml.api import evaluate

    m = evaluate(ens, val_split.images, val_split.labels)
    assert m["auc"] > 0.97 and m["acc"] > 0.9 and m["model_id"] == ens.model_id


def test_saliency_is_the_cnns_and_features_are_the_classical_pca(ens, val_split):
    im = contract.pipeline_preprocess(val_split.images[0])
    np.testing.assert_array_equal(ens.saliency(im), ens.cnn.saliency(im))
    grid = contract.medmnist_to_model_grid(val_split.images[:3])
    f = ens.features(grid)
    cls = load_model("classical")
    assert f.shape == (3, cls._w.shape[1])
    np.testing.assert_allclose(f, cls.features(grid), rtol=1e-6)


def test_changed_component_is_refused(tmp_path):
    for kind in ("classical", "cnn", "ensemble"):
        for suffix in ("npz", "json", "md"):
            shutil.copy(ARTIFACT_DIR / f"{kind}.{suffix}", tmp_path / f"{kind}.{suffix}")
    load_model("ensemble", tmp_path)
    # a consistently re-hashed but different classical artifact: its own check passes,
    # the ensemble's pin does not
    arrays, card, _ = read_artifact("classical", tmp_path)
    arrays["intercept"] = np.array(float(arrays["intercept"]) + 0.5)
    from imaging.ml.artifacts import write_artifact

    write_artifact("classical", arrays, {k: v for k, v in card.items() if k != "sha256"}, "", tmp_path)
    load_model("classical", tmp_path)
    with pytest.raises(ValueError, match="ensemble: the classical artifact"):
        load_model("ensemble", tmp_path)


def test_every_model_card_has_the_figures():
    for kind in ("classical", "cnn", "ensemble"):
        card = json.loads((ARTIFACT_DIR / f"{kind}.json").read_text())
        md = (ARTIFACT_DIR / f"{kind}.md").read_text()
        for key in ("auc", "acc", "sensitivity", "specificity", "ci95"):
            assert key in card["validation"]
        cal = card["calibration"]
        assert 0 <= cal["ece_after"]["oof_balanced"] <= 1
        assert (ARTIFACT_DIR / cal["reliability_svg"]).exists()
        assert len(card["cv_oof"]["per_fold"]) == 5
        assert "speed" in card
        for text in (
            "Cross-validation",
            "mean ± sd",
            "ECE before",
            "reliability",
            "sensitivity",
            "Inference speed",
        ):
            assert text in md, (kind, text)
