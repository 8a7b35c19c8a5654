"""BB84 quantum key distribution, simulated on qiskit-aer.

Pipeline
--------
1. Alice draws random bits and bases (Z = 0, X = 1); Bob draws random bases.
2. The qubits are simulated on qiskit-aer (stabilizer method, the circuits are Clifford) in
   batched circuits: one circuit holds up to ``BATCH`` independent qubits, one shot each.
   Channel noise is a depolarising channel ``rho -> (1-p) rho + p I/2`` appended as a
   quantum error; an intercept-resend eavesdropper on a random fraction ``f`` of the qubits
   measures in a random basis and resends what she saw (measure + re-prepare in the circuit).
3. Sifting keeps the positions where the bases agree (~N/2).
4. A random sample of the sifted key is disclosed to estimate the QBER; above 11 % the run
   aborts (the BB84 threshold for one-way post-processing, Shor-Preskill).
5. Cascade (Brassard-Salvail, 4 passes, first block size 0.73/QBER, doubling, shuffled)
   corrects Bob's key; every parity Alice announces is counted as leaked. A 32-bit hash
   comparison (counted as leaked too) verifies the result.
6. Privacy amplification with a random Toeplitz matrix (a 2-universal hash) compresses the
   key to ``n (1 - h(e_upper)) - leak_EC - 2 log2(1/eps)`` bits, where ``e_upper`` is the
   QBER estimate plus a 3-sigma sampling margin.

Ideal values: QBER ~ 0 with no noise or Eve, ~ 0.25 f with intercept-resend on a fraction f,
~ p/2 with depolarising noise p.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantum import QuantumParamError

QBER_ABORT = 0.11
BATCH = 128
PA_EPS = 1e-10  # privacy-amplification failure probability
VERIFY_BITS = 32


def _h2(p: float) -> float:
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def simulate_channel(
    alice_bits: np.ndarray,
    alice_bases: np.ndarray,
    bob_bases: np.ndarray,
    eve_mask: np.ndarray,
    eve_bases: np.ndarray,
    noise: float,
    seed: int,
) -> np.ndarray:
    """Run the quantum part on qiskit-aer; return Bob's measured bits."""
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import depolarizing_error

    n = len(alice_bits)
    sim = AerSimulator(method="stabilizer", seed_simulator=seed)
    err = depolarizing_error(noise, 1) if noise > 0 else None
    circuits = []
    for start in range(0, n, BATCH):
        idx = range(start, min(n, start + BATCH))
        w = len(idx)
        q = QuantumRegister(w, "q")
        eve_c = ClassicalRegister(w, "eve")
        bob_c = ClassicalRegister(w, "bob")
        qc = QuantumCircuit(q, eve_c, bob_c)
        for j, i in enumerate(idx):
            if alice_bits[i]:
                qc.x(j)
            if alice_bases[i]:
                qc.h(j)
            if eve_mask[i]:  # intercept-resend: measure in Eve's basis, resend the result
                if eve_bases[i]:
                    qc.h(j)
                qc.measure(j, eve_c[j])
                if eve_bases[i]:
                    qc.h(j)
            if err is not None:
                qc.append(err, [j])
            if bob_bases[i]:
                qc.h(j)
            qc.measure(j, bob_c[j])
        circuits.append(qc)
    result = sim.run(circuits, shots=1, memory=True).result()
    bob = np.zeros(n, dtype=np.uint8)
    for b, start in enumerate(range(0, n, BATCH)):
        mem = result.get_memory(b)[0]  # "bobbits evebits", most significant clbit first
        bob_str = mem.split(" ")[0]
        w = len(bob_str)
        bits = np.frombuffer(bob_str[::-1].encode(), dtype=np.uint8) - ord("0")
        bob[start : start + w] = bits
    return bob


# ---------------------------------------------------------------- Cascade
@dataclass
class CascadeResult:
    corrected: np.ndarray
    leaked_bits: int
    passes: int


def cascade(
    alice: np.ndarray, bob: np.ndarray, qber: float, rng: np.random.Generator, passes: int = 4
) -> CascadeResult:
    """Cascade error correction. Alice's parities are disclosed (and counted as leaked)."""
    n = len(alice)
    bob = bob.copy()
    leaked = 0
    if n == 0:
        return CascadeResult(bob, 0, 0)
    k1 = max(4, math.ceil(0.73 / max(qber, 1e-3)))
    perms: list[np.ndarray] = []
    invs: list[np.ndarray] = []
    sizes: list[int] = []
    for p in range(passes):
        perm = np.arange(n) if p == 0 else rng.permutation(n)
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        perms.append(perm)
        invs.append(inv)
        sizes.append(min(n, k1 * (2**p)))

    def block_indices(p: int, b: int) -> np.ndarray:
        k = sizes[p]
        return perms[p][b * k : (b + 1) * k]

    def binary_search(idx: np.ndarray) -> int:
        nonlocal leaked
        while len(idx) > 1:
            half = idx[: len(idx) // 2]
            leaked += 1  # Alice announces the parity of the first half
            if (int(alice[half].sum()) - int(bob[half].sum())) % 2:
                idx = half
            else:
                idx = idx[len(idx) // 2 :]
        return int(idx[0])

    def mismatch(idx: np.ndarray) -> bool:
        return bool((int(alice[idx].sum()) - int(bob[idx].sum())) % 2)

    for p in range(passes):
        nblocks = math.ceil(n / sizes[p])
        for b in range(nblocks):
            idx = block_indices(p, b)
            leaked += 1  # top-level block parity
            if not mismatch(idx):
                continue
            todo = [(p, b)]
            while todo:
                q, blk = todo.pop()
                bi = block_indices(q, blk)
                if not mismatch(bi):
                    continue
                i = binary_search(bi)
                bob[i] ^= 1
                # the flip changes the parity of the block holding i in every processed pass
                for r in range(p + 1):
                    if r == q:
                        continue
                    rb = int(invs[r][i]) // sizes[r]
                    if r == p and rb > b:
                        continue  # not yet processed in this pass
                    todo.append((r, rb))
    return CascadeResult(bob, leaked, passes)


def toeplitz_hash(bits: np.ndarray, out_len: int, seed_bits: np.ndarray) -> np.ndarray:
    """y = T x mod 2 with T[i, j] = s[i - j + n - 1] (an m x n Toeplitz matrix)."""
    n = len(bits)
    if out_len <= 0:
        return np.zeros(0, dtype=np.uint8)
    if len(seed_bits) != n + out_len - 1:
        raise ValueError(f"seed_bits must hold n + out_len - 1 = {n + out_len - 1} bits, not {len(seed_bits)}")
    from scipy.signal import fftconvolve

    conv = fftconvolve(seed_bits.astype(np.float64), bits.astype(np.float64))
    y = np.rint(conv[n - 1 : n - 1 + out_len]).astype(np.int64) % 2
    return y.astype(np.uint8)


def _bits_to_bytes(bits: np.ndarray) -> bytes:
    return np.packbits(bits.astype(np.uint8)).tobytes()


def run_bb84(
    qubits: int,
    *,
    eve: float = 0.0,
    noise: float = 0.0,
    seed: int | None = None,
    sample_fraction: float = 0.25,
    abort_threshold: float = QBER_ABORT,
) -> dict[str, Any]:
    """Simulate one BB84 session; return a JSON-ready dict (keys as hex strings)."""
    if not isinstance(qubits, int) or qubits <= 0:
        raise QuantumParamError("--qubits must be a positive integer")
    if qubits > 2_000_000:
        raise QuantumParamError("--qubits must be at most 2000000")
    if not 0.0 <= eve <= 1.0:
        raise QuantumParamError("--eve must be a fraction in [0, 1]")
    if not 0.0 <= noise <= 1.0:
        raise QuantumParamError("--noise must be a probability in [0, 1]")
    if not 0.0 < sample_fraction < 1.0:
        raise QuantumParamError("sample fraction must be in (0, 1)")
    rng = np.random.default_rng(seed)
    alice_bits = rng.integers(0, 2, qubits, dtype=np.uint8)
    alice_bases = rng.integers(0, 2, qubits, dtype=np.uint8)
    bob_bases = rng.integers(0, 2, qubits, dtype=np.uint8)
    eve_mask = rng.random(qubits) < eve
    eve_bases = rng.integers(0, 2, qubits, dtype=np.uint8)
    sim_seed = int(rng.integers(0, 2**31 - 1))
    bob_bits = simulate_channel(alice_bits, alice_bases, bob_bases, eve_mask, eve_bases, noise, sim_seed)

    keep = alice_bases == bob_bases
    a_sift = alice_bits[keep]
    b_sift = bob_bits[keep]
    sifted = int(keep.sum())
    true_qber = float(np.mean(a_sift != b_sift)) if sifted else 0.0

    n_sample = max(1, int(round(sifted * sample_fraction))) if sifted else 0
    sample = rng.choice(sifted, size=n_sample, replace=False) if sifted else np.zeros(0, dtype=int)
    qber = float(np.mean(a_sift[sample] != b_sift[sample])) if n_sample else 0.0
    rest = np.ones(sifted, dtype=bool)
    rest[sample] = False
    a_key = a_sift[rest]
    b_key = b_sift[rest]
    ideal_qber = 0.25 * eve * (1 - noise / 2) + (noise / 2) * (1 - 0.25 * eve)
    base = {
        "simulated": True,
        "protocol": "BB84",
        "qubits": qubits,
        "eve_fraction": eve,
        "noise": noise,
        "seed": seed,
        "sifted": sifted,
        "sample_bits": n_sample,
        "qber": qber,
        "qber_true": true_qber,
        "qber_ideal": ideal_qber,
        "abort_threshold": abort_threshold,
    }
    if n_sample == 0 or qber > abort_threshold:
        base.update(
            aborted=True,
            reason="no sifted bits" if n_sample == 0 else "QBER above threshold",
            key_bits=0,
            leaked_bits=0,
            keys_match=False,
            alice_key="",
            bob_key="",
        )
        return base

    ec = cascade(a_key, b_key, qber, rng)
    b_corr = ec.corrected
    tag_a = hashlib.sha256(_bits_to_bytes(a_key)).digest()[: VERIFY_BITS // 8]
    tag_b = hashlib.sha256(_bits_to_bytes(b_corr)).digest()[: VERIFY_BITS // 8]
    leaked = ec.leaked_bits + VERIFY_BITS
    n = len(a_key)
    margin = 3 * math.sqrt(max(qber * (1 - qber), 1.0 / max(n_sample, 1)) / n_sample)
    e_upper = min(0.5, qber + margin)
    final_len = int(math.floor(n * (1 - _h2(e_upper)) - leaked - 2 * math.log2(1 / PA_EPS)))
    final_len = max(0, final_len)
    verified = tag_a == tag_b
    residual_errors = int(np.sum(a_key != b_corr))
    if not verified:
        final_len = 0
    seed_bits = rng.integers(0, 2, n + final_len - 1, dtype=np.uint8) if final_len else np.zeros(0)
    k_a = toeplitz_hash(a_key, final_len, seed_bits)
    k_b = toeplitz_hash(b_corr, final_len, seed_bits)
    base.update(
        aborted=False,
        reason="",
        reconciled_bits=n,
        errors_corrected=int(np.sum(b_key != b_corr)),
        residual_errors=residual_errors,
        verified=verified,
        qber_upper=e_upper,
        key_bits=final_len,
        leaked_bits=leaked,
        keys_match=bool(final_len > 0 and np.array_equal(k_a, k_b)),
        alice_key=_bits_to_bytes(k_a).hex() if final_len else "",
        bob_key=_bits_to_bytes(k_b).hex() if final_len else "",
    )
    return base


def bb84_key_bytes(result: dict[str, Any]) -> bytes:
    """The agreed key of a successful run as bytes (Alice's copy)."""
    if result.get("aborted") or not result.get("keys_match"):
        raise QuantumParamError("BB84 run produced no agreed key")
    return bytes.fromhex(result["alice_key"])


def hybrid_transfer_key(bb84_key: bytes, mlkem_shared_secret: bytes, *, context: bytes) -> bytes:
    """Site-to-site transfer key: HKDF-SHA256 over a BB84 key AND an ML-KEM shared secret.

    Hybrid on purpose: the output is secret as long as either input is, so security never
    rests on the (simulated) BB84 key alone.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if not isinstance(bb84_key, bytes | bytearray) or not isinstance(mlkem_shared_secret, bytes | bytearray):
        raise TypeError("keys must be bytes")
    if len(mlkem_shared_secret) < 16:
        raise QuantumParamError("ML-KEM shared secret too short")
    if len(bb84_key) == 0:
        raise QuantumParamError("BB84 key is empty")
    ikm = len(bb84_key).to_bytes(4, "big") + bytes(bb84_key) + bytes(mlkem_shared_secret)
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"qmedchain/hybrid-transfer-key/v1",
        info=b"bb84+mlkem|" + bytes(context),
    )
    return hkdf.derive(ikm)
