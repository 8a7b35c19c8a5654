"""The simulated quantum layer with a peer: Bell-state checks and BB84, clean and eavesdropped,
their statistics against theory, and no key material kept."""

from __future__ import annotations

import json

import pytest

from federation import simulations
from federation.models import Peer, QuantumCheck


@pytest.fixture(scope="module")
def results():
    return simulations.simulate(seed=2024)


def test_a_clean_channel_passes_both_checks(results):
    bell, qkd = results["bell"]["clean"], results["qkd"]["clean"]
    assert results["simulated"] is True
    assert (bell["errors"], bell["detected"], bell["detection_rate"], bell["false_alarms"]) == (
        0,
        False,
        0.0,
        0,
    )
    assert bell["checked"] == simulations.BELL_CHECKED and bell["trials"] == simulations.BELL_TRIALS
    assert qkd["qber"] == 0.0 and not qkd["aborted"] and qkd["keys_match"] and qkd["key_bits"] > 256
    assert qkd["hybrid_keys_match"] is True  # both sides derive one key from BB84 + ML-KEM-768


def test_an_eavesdropper_is_detected_at_the_rates_theory_predicts(results):
    bell, qkd = results["bell"]["eavesdropper"], results["qkd"]["eavesdropper"]
    assert bell["error_rate_theory"] == 0.25
    assert bell["mean_error_rate"] == pytest.approx(0.25, abs=0.05)  # 1600 compared pairs
    p = bell["detection_probability_theory"]
    assert p == pytest.approx(1 - 0.75**simulations.BELL_CHECKED)
    sigma = (p * (1 - p) / bell["trials"]) ** 0.5
    assert abs(bell["detection_rate"] - p) <= 4 * sigma + 1 / bell["trials"]
    # intercept-resend on every qubit: QBER about 1/4, far above the 11 % abort threshold
    assert qkd["qber_ideal"] == 0.25 and qkd["qber"] == pytest.approx(0.25, abs=0.05)
    assert qkd["aborted"] and qkd["key_bits"] == 0 and qkd["hybrid_keys_match"] is None


def test_no_key_material_is_kept(results):
    text = json.dumps(results)
    assert "alice_key" not in text and "bob_key" not in text


def test_the_same_seed_gives_the_same_statistics(results):
    assert simulations.simulate(seed=2024) == results


@pytest.mark.django_db
def test_a_run_is_stored_for_the_peer():
    peer = Peer.objects.create(origin="hospital-b.example/ledger", role="both")
    check = simulations.quantum_checks_run(peer=peer, seed=7)
    check.refresh_from_db()
    assert QuantumCheck.objects.get() == check
    assert (check.peer, check.seed, check.results) == (peer, 7, simulations.simulate(seed=7))
