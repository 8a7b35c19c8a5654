"""The source design's quantum layer between two hospitals, run as labelled simulations.

The design authenticates nodes with Bell-state checks (EQMR: both nodes measure shared |Phi+>
pairs in a random common basis and compare) and shares keys by QKD (BB84). Here both run on
qiskit-aer (`quantum.bell_auth`, `quantum.bb84`) when a peer is set up and again on request,
each once on a clean channel and once with a simulated intercept-resend eavesdropper, so the
peer page can show what the checks detect. Only statistics are kept: no key material.

Nothing trusts these numbers. Peers are authenticated by their Ed25519 / ML-DSA-44 /
Falcon-512 signatures and keys are agreed with ML-KEM-768; the simulated BB84 key is only
ever mixed with an ML-KEM secret (`quantum.bb84.hybrid_transfer_key`), never used alone.
"""

from __future__ import annotations

import secrets
from typing import Any

from federation.models import Peer, QuantumCheck

BELL_PAIRS = 256  # |Phi+> pairs shared per authentication
BELL_CHECKED = 16  # pairs compared: an attacker on every pair is caught with 1 - (3/4)^16 = 99 %
BELL_TRIALS = 100  # repeated authentications, for a measured detection rate next to the theory
BB84_QUBITS = 4096
EVE_FRACTION = 1.0  # the eavesdropper intercepts and resends every qubit
HYBRID_CONTEXT = b"qmedchain/federation-peer/v1"

# statistics worth showing; everything else a run returns (keys above all) is dropped
_BELL_FIELDS = (
    "pairs",
    "checked",
    "attack",
    "trials",
    "errors",
    "error_rate",
    "mean_error_rate",
    "error_rate_theory",
    "detected",
    "detection_rate",
    "detection_probability_theory",
    "false_alarms",
)
_BB84_FIELDS = (
    "qubits",
    "eve_fraction",
    "sifted",
    "sample_bits",
    "qber",
    "qber_ideal",
    "abort_threshold",
    "aborted",
    "reason",
    "key_bits",
    "keys_match",
)


def _bell(attack: str, seed: int) -> dict[str, Any]:
    from quantum.bell_auth import run_bell_auth

    res = run_bell_auth(BELL_PAIRS, BELL_CHECKED, attack, trials=BELL_TRIALS, seed=seed)
    return {k: res[k] for k in _BELL_FIELDS}


def _hybrid_keys_match(res: dict[str, Any]) -> bool | None:
    """Both sides mix their BB84 key with a fresh ML-KEM-768 shared secret (HKDF-SHA256), as
    the product would; None when BB84 gave no key to mix."""
    from pqcrypto.kem import ml_kem_768

    from quantum.bb84 import hybrid_transfer_key

    if not (res.get("keys_match") and res.get("alice_key") and res.get("bob_key")):
        return None
    public, secret = ml_kem_768.generate_keypair()
    ciphertext, at_a = ml_kem_768.encrypt(public)
    at_b = ml_kem_768.decrypt(secret, ciphertext)
    key_a = hybrid_transfer_key(bytes.fromhex(res["alice_key"]), at_a, context=HYBRID_CONTEXT)
    key_b = hybrid_transfer_key(bytes.fromhex(res["bob_key"]), at_b, context=HYBRID_CONTEXT)
    return key_a == key_b


def _bb84(eve: float, seed: int) -> dict[str, Any]:
    from quantum.bb84 import run_bb84

    res = run_bb84(BB84_QUBITS, eve=eve, seed=seed)
    out = {k: res.get(k) for k in _BB84_FIELDS}
    out["hybrid_keys_match"] = _hybrid_keys_match(res)
    return out


def simulate(seed: int) -> dict[str, Any]:
    """The four runs (Bell check and BB84, clean and eavesdropped), statistics only."""
    return {
        "simulated": True,
        "bell": {"clean": _bell("none", seed), "eavesdropper": _bell("intercept", seed + 1)},
        "qkd": {"clean": _bb84(0.0, seed + 2), "eavesdropper": _bb84(EVE_FRACTION, seed + 3)},
    }


def quantum_checks_run(*, peer: Peer, seed: int | None = None) -> QuantumCheck:
    """Run the simulated quantum layer with `peer` and store its statistics. Takes about a
    second (qiskit-aer); runs outside any transaction, then writes one row."""
    seed = secrets.randbelow(2**31 - 8) if seed is None else seed
    results = simulate(seed)
    return QuantumCheck.objects.create(peer=peer, seed=seed, results=results)
