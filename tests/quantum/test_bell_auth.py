"""Bell-state authentication: detection rates against 1 - (3/4)^K, no false alarms."""

import math

import pytest

from quantum import QuantumParamError
from quantum.bell_auth import detection_probability, run_bell_auth


def test_no_attack_no_noise_never_alarms():
    r = run_bell_auth(300, 6, "none", trials=200, seed=1)
    assert r["simulated"] is True
    assert r["false_alarms"] == 0 and r["detection_rate"] == 0.0
    assert r["mean_error_rate"] == 0.0 and r["detected"] is False


@pytest.mark.parametrize("attack", ["intercept", "entangle"])
def test_detection_rate_matches_theory(attack):
    k, trials = 4, 400
    r = run_bell_auth(100, k, attack, trials=trials, seed=7)
    p = 1 - 0.75**k
    assert math.isclose(r["detection_probability_theory"], p)
    sigma = math.sqrt(p * (1 - p) / trials)
    assert abs(r["detection_rate"] - p) < 4 * sigma
    # per-pair error rate 1/4 over k * trials checked pairs
    n = k * trials
    assert abs(r["mean_error_rate"] - 0.25) < 5 * math.sqrt(0.25 * 0.75 / n)


def test_noise_error_rate_is_half_p_and_threshold_tolerates_it():
    p = 0.2
    r = run_bell_auth(50, 20, "none", noise=p, trials=100, seed=3)
    n = 20 * 100
    assert abs(r["mean_error_rate"] - p / 2) < 5 * math.sqrt(0.1 * 0.9 / n)
    # with a threshold above the noise level the false-alarm probability is small and predicted
    r2 = run_bell_auth(50, 40, "none", noise=p, threshold=0.25, trials=100, seed=4)
    pt = detection_probability("none", 40, p, 0.25)
    assert pt < 0.01
    assert r2["detection_rate"] <= pt + 4 * math.sqrt(max(pt, 1e-3) / 100)


@pytest.mark.parametrize(
    "args",
    [(0, 1, "none"), (10, 0, "none"), (5, 6, "none"), (10, 2, "bogus"), (-1, 1, "intercept")],
)
def test_bad_parameters_refused(args):
    with pytest.raises(QuantumParamError):
        run_bell_auth(*args)
