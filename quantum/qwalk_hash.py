"""Hash function from a controlled quantum walk on a cycle (exact numpy simulation).

After the quantum-walk hash family of Li et al. ("controlled alternate quantum walks",
Sci. Rep. 2013/2018) used by the source design: a walker with a two-dimensional coin moves
on a cycle of ``N_NODES`` positions; each message bit selects which of two coin operators
is applied at that step (the walk alternates between the two coins as the message
dictates), followed by the conditional shift (coin 0 -> left, coin 1 -> right).

* Coins: ``C(theta) = [[cos t, sin t], [sin t, -cos t]]`` with theta_0 = pi/4 (Hadamard)
  and theta_1 = pi/3.
* Cycle: 33 nodes (odd, so no parity sublattice is left empty); initial state
  ``|0>_pos (cos a |0> + sin a |1>)`` with a = 0.3 (not pi/4: a symmetric start would make
  p_x = p_-x and halve the digest's information). Coins, shift and start are real, so the
  simulation runs exactly in real arithmetic.
* Padding (Merkle-Damgard style, unambiguous): ``m || 0x80 || 0x00* || len64(m)`` to a
  multiple of 8 bytes and at least 64 bytes (>= 512 walk steps so the walker spreads).
* Digest: the position distribution p_0..p_31 after the walk; byte i is
  ``floor(p_i * 1e8) mod 256`` -> 32 bytes = 256 bits.

Speed: the 256 products of 8 step unitaries (one per possible message byte) are
precomputed once, so hashing is one 66x66 real mat-vec per message byte.

This is a simulation of a quantum hash, not a cryptographic standard: the digest depends
on floating-point rounding in the last digit read (1e-8 relative), so in rare cases
(estimated < 1e-3 per digest) a different BLAS/CPU could produce a different digest.
Use SHA-256 as the primary fingerprint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from quantum import QuantumParamError

N_NODES = 33
DIGEST_BYTES = 32
THETA = (math.pi / 4, math.pi / 3)
SCALE = 1e8
MIN_PADDED = 64
INIT_ANGLE = 0.3


def coin(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, s], [s, -c]], dtype=np.float64)


def step_unitary(bit: int, n: int = N_NODES) -> np.ndarray:
    """One walk step for a message bit; basis index = 2 * position + coin."""
    d = 2 * n
    c = coin(THETA[bit])
    u = np.zeros((d, d), dtype=np.float64)
    for x in range(n):
        for cin in range(2):
            for cout in range(2):
                amp = c[cout, cin]
                if amp == 0:
                    continue
                nx = (x - 1) % n if cout == 0 else (x + 1) % n
                u[2 * nx + cout, 2 * x + cin] += amp
    return u


@lru_cache(maxsize=1)
def byte_table() -> np.ndarray:
    """T[v] = U_{b7} ... U_{b0} for the byte v whose most significant bit is b0."""
    u = [step_unitary(0), step_unitary(1)]
    table = np.stack([np.eye(2 * N_NODES, dtype=np.float64)])
    for _ in range(8):
        table = np.stack([u[b] @ t for t in table for b in (0, 1)])
    return np.ascontiguousarray(table)


def initial_state() -> np.ndarray:
    psi = np.zeros(2 * N_NODES, dtype=np.float64)
    psi[0] = math.cos(INIT_ANGLE)
    psi[1] = math.sin(INIT_ANGLE)
    return psi


def pad(message: bytes) -> bytes:
    m = bytes(message)
    out = m + b"\x80"
    while (len(out) + 8) % 8 or len(out) + 8 < MIN_PADDED:
        out += b"\x00"
    return out + (8 * len(m)).to_bytes(8, "big")


def walk(padded: bytes, psi: np.ndarray | None = None) -> np.ndarray:
    table = byte_table()
    psi = initial_state() if psi is None else psi
    for b in padded:
        psi = table[b] @ psi
    return psi


def digest_from_state(psi: np.ndarray) -> bytes:
    p = (psi * psi).reshape(N_NODES, 2).sum(axis=1)
    vals = np.floor(p[:DIGEST_BYTES] * SCALE).astype(np.int64) % 256
    return bytes(vals.astype(np.uint8).tolist())


def position_distribution(message: bytes) -> np.ndarray:
    psi = walk(pad(message))
    return (psi * psi).reshape(N_NODES, 2).sum(axis=1)


def qwalk_hash(message: bytes) -> bytes:
    """256-bit digest of ``message``."""
    return digest_from_state(walk(pad(message)))


def qwalk_hexdigest(message: bytes) -> str:
    return qwalk_hash(message).hex()


# ---------------------------------------------------------------- statistics
IDEAL_OMEGA = [math.comb(32, w) * (1 / 256) ** w * (255 / 256) ** (32 - w) for w in range(4)]


def _hamming(a: bytes, b: bytes) -> int:
    return int.from_bytes(bytes(x ^ y for x, y in zip(a, b, strict=True)), "big").bit_count()


def stats(samples: int, *, message_bytes: int = 128, seed: int | None = None) -> dict[str, Any]:
    """Literature tests: flip one random bit of a random message, compare the digests.

    Returns mean_changed_bits (ideal 128), P (ideal 50 %), dB (ideal 8), dP (ideal 3.125 %),
    the distribution of the number of equal bytes omega = 0..3 (ideal binomial(32, 1/256)),
    and the number of collisions (identical digests).
    """
    if not isinstance(samples, int) or samples <= 0:
        raise QuantumParamError("--samples must be a positive integer")
    if message_bytes <= 0:
        raise QuantumParamError("message size must be positive")
    rng = np.random.default_rng(seed)
    table = byte_table()
    changed = np.zeros(samples, dtype=np.int64)
    omega = np.zeros(samples, dtype=np.int64)
    collisions = 0
    for s in range(samples):
        msg = bytearray(rng.integers(0, 256, message_bytes, dtype=np.uint8).tobytes())
        bit = int(rng.integers(0, 8 * message_bytes))
        padded = pad(bytes(msg))
        # walk the original once, remembering the state before the byte to be flipped
        psi = initial_state()
        j = bit // 8
        for i, b in enumerate(padded):
            if i == j:
                saved = psi
            psi = table[b] @ psi
        d1 = digest_from_state(psi)
        msg[j] ^= 0x80 >> (bit % 8)
        padded2 = pad(bytes(msg))
        psi2 = walk(padded2[j:], saved)
        d2 = digest_from_state(psi2)
        changed[s] = _hamming(d1, d2)
        omega[s] = sum(x == y for x, y in zip(d1, d2, strict=True))
        collisions += d1 == d2
    nbits = 8 * DIGEST_BYTES
    mean_b = float(changed.mean())
    dist = [float(np.mean(omega == w)) for w in range(4)]
    return {
        "simulated": True,
        "hash": "controlled quantum walk on a 33-cycle, 256-bit",
        "samples": samples,
        "message_bytes": message_bytes,
        "seed": seed,
        "mean_changed_bits": mean_b,
        "P": 100.0 * mean_b / nbits,
        "dB": float(np.sqrt(np.mean((changed - mean_b) ** 2))),
        "dP": float(100.0 * np.sqrt(np.mean((changed / nbits - mean_b / nbits) ** 2))),
        "omega": {str(w): dist[w] for w in range(4)},
        "omega_counts": {str(w): int(np.sum(omega == w)) for w in range(4)},
        "omega_ge4": int(np.sum(omega >= 4)),
        "collisions": int(collisions),
        "ideal": {
            "mean_changed_bits": 128.0,
            "P": 50.0,
            "dB": 8.0,
            "dP": 3.125,
            "omega": {str(w): IDEAL_OMEGA[w] for w in range(4)},
        },
    }


def throughput(
    message_bytes: int = 1024, count: int = 50, seed: int = 0, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Digests per second for messages of ``message_bytes`` bytes (wall clock by default;
    pass ``clock=time.process_time`` for CPU time, unaffected by other processes)."""
    rng = np.random.default_rng(seed)
    msgs = [rng.integers(0, 256, message_bytes, dtype=np.uint8).tobytes() for _ in range(count)]
    byte_table()
    t0 = clock()
    for m in msgs:
        qwalk_hash(m)
    return count / max(clock() - t0, 1e-9)
