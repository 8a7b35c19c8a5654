"""Bell-state authentication between two ledger nodes, simulated on qiskit-aer.

The source design's validation phase: node A prepares N Bell pairs |Phi+> = (|00>+|11>)/sqrt 2
and sends the second qubit of each to node B. A then announces K random positions and, for
each, a random basis (Z or X); both nodes measure their halves there in that basis and
compare. For |Phi+> the outcomes agree with certainty in both bases, so any disagreement
reveals tampering (or noise).

Attacks on the B-bound qubits (Eve attacks every pair; she does not know which are checked):

* ``intercept`` - intercept-resend: Eve measures in a random basis and resends what she saw.
  Per checked pair the error probability is 1/4, so P(detect) = 1 - (3/4)^K.
* ``entangle`` - entangle-measure: Eve couples a probe with a CNOT (qubit -> probe) and
  measures her probe. Z-basis checks show no error, X-basis checks an error with
  probability 1/2: again 1/4 per checked pair and P(detect) = 1 - (3/4)^K.

Optional depolarising noise p on the channel adds p/2 per checked pair. Detection rule:
more than ``floor(threshold * K)`` mismatches (threshold 0 = any mismatch).

All circuits are Clifford and run on the stabilizer simulator in batches. With ``trials``
> 1 only the checked pairs are simulated in the repeated trials (unchecked pairs do not
influence the check); trial 1 simulates all N pairs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from quantum import QuantumParamError

ATTACKS = ("none", "intercept", "entangle")
BATCH_PAIRS = 48


def per_pair_error(attack: str, noise: float = 0.0) -> float:
    e_attack = 0.25 if attack in ("intercept", "entangle") else 0.0
    e_noise = noise / 2
    return e_attack + e_noise - 2 * e_attack * e_noise


def detection_probability(attack: str, checked: int, noise: float = 0.0, threshold: float = 0.0) -> float:
    """P(more than floor(threshold*K) errors among K checked pairs), errors ~ Binomial(K, e)."""
    e = per_pair_error(attack, noise)
    t = math.floor(threshold * checked)
    return 1.0 - sum(math.comb(checked, j) * e**j * (1 - e) ** (checked - j) for j in range(t + 1))


def _simulate(
    pairs: int,
    checked_mask: np.ndarray,
    bases: np.ndarray,
    attack: str,
    eve_bases: np.ndarray,
    noise: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (alice_bits, bob_bits) for the checked pairs, in pair order."""
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import depolarizing_error

    sim = AerSimulator(method="stabilizer", seed_simulator=seed)
    err = depolarizing_error(noise, 1) if noise > 0 else None
    probe = attack == "entangle"
    circuits: list[Any] = []
    layouts: list[list[int]] = []
    for start in range(0, pairs, BATCH_PAIRS):
        idx = list(range(start, min(pairs, start + BATCH_PAIRS)))
        if not any(checked_mask[i] for i in idx):
            continue  # nothing measured here: these pairs stay unused
        w = len(idx)
        q = QuantumRegister(w * (3 if probe else 2), "q")
        ca = ClassicalRegister(w, "a")
        cb = ClassicalRegister(w, "b")
        ce = ClassicalRegister(w, "e")
        qc = QuantumCircuit(q, ca, cb, ce)
        for j, i in enumerate(idx):
            a, b = 2 * j, 2 * j + 1
            qc.h(a)
            qc.cx(a, b)  # |Phi+>; qubit b travels to node B
            if attack == "intercept":
                if eve_bases[i]:
                    qc.h(b)
                qc.measure(b, ce[j])
                if eve_bases[i]:
                    qc.h(b)
            elif probe:
                e = 2 * w + j
                qc.cx(b, e)
                qc.measure(e, ce[j])
            if err is not None:
                qc.append(err, [b])
            if checked_mask[i]:
                if bases[i]:
                    qc.h(a)
                    qc.h(b)
                qc.measure(a, ca[j])
                qc.measure(b, cb[j])
        circuits.append(qc)
        layouts.append(idx)
    result = sim.run(circuits, shots=1, memory=True).result()
    alice: list[int] = []
    bob: list[int] = []
    for c, idx in enumerate(layouts):
        regs = result.get_memory(c)[0].split(" ")  # "e b a", last register first
        e_str, b_str, a_str = regs
        a_bits = a_str[::-1]
        b_bits = b_str[::-1]
        for j, i in enumerate(idx):
            if checked_mask[i]:
                alice.append(int(a_bits[j]))
                bob.append(int(b_bits[j]))
    return np.array(alice, dtype=np.uint8), np.array(bob, dtype=np.uint8)


def run_bell_auth(
    pairs: int,
    checked: int,
    attack: str = "none",
    *,
    noise: float = 0.0,
    threshold: float = 0.0,
    trials: int = 1,
    seed: int | None = None,
) -> dict[str, Any]:
    if not isinstance(pairs, int) or pairs <= 0:
        raise QuantumParamError("--pairs must be a positive integer")
    if not isinstance(checked, int) or checked <= 0:
        raise QuantumParamError("--checked must be a positive integer")
    if checked > pairs:
        raise QuantumParamError(f"--checked ({checked}) must not exceed --pairs ({pairs})")
    if pairs > 1_000_000 or trials > 100_000 or trials <= 0:
        raise QuantumParamError("--pairs at most 1000000, --trials in 1..100000")
    if attack not in ATTACKS:
        raise QuantumParamError(f"--attack must be one of {', '.join(ATTACKS)}")
    if not 0.0 <= noise <= 1.0 or not 0.0 <= threshold < 1.0:
        raise QuantumParamError("--noise must be in [0, 1] and threshold in [0, 1)")
    rng = np.random.default_rng(seed)
    errors_per_trial = []
    detected_per_trial = []
    limit = math.floor(threshold * checked)
    # batch the repeated trials (checked pairs only) into one simulation
    for t in range(trials):
        n = pairs if t == 0 else checked
        positions = rng.choice(n, size=checked, replace=False) if t == 0 else np.arange(checked)
        mask = np.zeros(n, dtype=bool)
        mask[positions] = True
        bases = rng.integers(0, 2, n, dtype=np.uint8)
        eve_bases = rng.integers(0, 2, n, dtype=np.uint8)
        if t == 0:
            a, b = _simulate(n, mask, bases, attack, eve_bases, noise, int(rng.integers(2**31 - 1)))
            errs = int(np.sum(a != b))
            errors_per_trial.append(errs)
            detected_per_trial.append(errs > limit)
            first = {"errors": errs, "error_rate": errs / checked, "detected": errs > limit}
            if trials > 1:
                pend_mask, pend_bases, pend_eve = [], [], []
        else:
            pend_mask.append(mask)
            pend_bases.append(bases)
            pend_eve.append(eve_bases)
    if trials > 1:
        mask = np.concatenate(pend_mask)
        a, b = _simulate(
            len(mask),
            mask,
            np.concatenate(pend_bases),
            attack,
            np.concatenate(pend_eve),
            noise,
            int(rng.integers(2**31 - 1)),
        )
        errs = (a != b).reshape(trials - 1, checked).sum(axis=1)
        errors_per_trial.extend(int(e) for e in errs)
        detected_per_trial.extend(bool(e > limit) for e in errs)
    det = np.array(detected_per_trial)
    total_err = sum(errors_per_trial)
    p_theory = detection_probability(attack, checked, noise, threshold)
    return {
        "simulated": True,
        "protocol": "Bell-state (|Phi+>) node authentication",
        "pairs": pairs,
        "checked": checked,
        "attack": attack,
        "noise": noise,
        "threshold": threshold,
        "seed": seed,
        "trials": trials,
        "errors": first["errors"],
        "error_rate": first["error_rate"],
        "detected": bool(first["detected"]),
        "mean_error_rate": total_err / (checked * trials),
        "error_rate_theory": per_pair_error(attack, noise),
        "detection_rate": float(det.mean()),
        "detection_probability_theory": p_theory,
        "detection_rate_sigma": math.sqrt(max(p_theory * (1 - p_theory), 1e-12) / trials),
        "false_alarms": int(det.sum()) if attack == "none" else None,
    }
