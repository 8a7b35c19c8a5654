"""Calibration: temperature scaling, ECE, reliability diagram (pure numpy)."""

import xml.etree.ElementTree as ET

import numpy as np

from imaging.ml.calibration import (
    apply_temperature,
    balanced_weights,
    ece,
    fit_temperature,
    logit,
    reliability,
    reliability_svg,
    sigmoid,
)


def _sample(n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 1.0, n)
    y = (rng.uniform(size=n) < p).astype(int)
    return p, y


def test_ece_of_a_perfectly_calibrated_predictor_is_near_zero():
    p, y = _sample()
    assert ece(p, y) < 0.01


def test_ece_of_an_overconfident_predictor_is_large():
    p, y = _sample()
    over = sigmoid(4.0 * logit(p))
    assert ece(over, y) > 0.1
    assert ece(over, y) > 10 * ece(p, y)


def test_ece_uses_weights_and_bins():
    p = np.array([0.9, 0.9, 0.1, 0.1])
    y = np.array([1, 0, 0, 0])
    # bin 0.9: freq 0.5, conf 0.9 -> 0.4 * 0.5; bin 0.1: freq 0, conf 0.1 -> 0.1 * 0.5
    assert abs(ece(p, y, n_bins=10) - 0.25) < 1e-12
    w = np.array([1.0, 0.0, 1.0, 1.0])  # drop the wrong positive
    assert abs(ece(p, y, n_bins=10, weights=w) - (0.1 * 1 / 3 + 0.1 * 2 / 3)) < 1e-12


def test_fit_temperature_recovers_the_overconfidence_factor():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 50_000)
    y = (rng.uniform(size=z.size) < sigmoid(z)).astype(int)
    t = fit_temperature(3.0 * z, y, balanced=False)
    assert 2.7 < t < 3.3
    assert ece(apply_temperature(3.0 * z, t), y) < ece(sigmoid(3.0 * z), y)


def test_calibrated_probabilities_are_in_unit_interval_and_monotonic_in_the_logit():
    z = np.linspace(-800, 800, 4001)
    for t in (0.3, 1.0, 7.0):
        p = apply_temperature(z, t)
        assert np.all((p >= 0) & (p <= 1)) and np.all(np.isfinite(p))
        assert np.all(np.diff(p) >= 0)
        assert p[0] < 0.01 and p[-1] > 0.99


def test_balanced_weights_equalise_the_classes():
    y = np.array([0] * 10 + [1] * 90)
    w = balanced_weights(y)
    assert abs(w[y == 0].sum() - w[y == 1].sum()) < 1e-9


def test_reliability_rows_and_svg():
    p, y = _sample(5000)
    rows = reliability(p, y, n_bins=15)
    assert len(rows) == 15 and sum(r["n"] for r in rows) == 5000
    svg = reliability_svg({"a <b>": rows}, title="x & y")
    root = ET.fromstring(svg)  # well-formed, escaped
    assert root.tag.endswith("svg")
    assert "polyline" in svg and "a &lt;b&gt;" in svg
