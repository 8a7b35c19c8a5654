"""BB84: statistics against theory (seeded, bounds ~5 sigma), key agreement, Cascade, PA."""

import hashlib
import hmac
import math

import numpy as np
import pytest
from scipy.linalg import toeplitz

from quantum import QuantumParamError
from quantum.bb84 import _h2, bb84_key_bytes, cascade, hybrid_transfer_key, run_bb84, toeplitz_hash


def test_no_eve_no_noise_gives_zero_qber_and_identical_keys():
    r = run_bb84(3000, seed=11)
    assert r["simulated"] is True
    # sifting keeps about half: binomial(3000, 1/2), 5 sigma = 137
    assert abs(r["sifted"] - 1500) < 137
    assert r["qber"] == 0.0 and r["qber_true"] == 0.0
    assert not r["aborted"]
    assert r["keys_match"] and r["key_bits"] > 0
    assert r["alice_key"] == r["bob_key"]
    assert len(bb84_key_bytes(r)) == math.ceil(r["key_bits"] / 8)


def test_intercept_resend_on_fraction_gives_quarter_f():
    f = 0.4
    r = run_bb84(8000, eve=f, seed=5)
    n = r["sifted"]
    ideal = 0.25 * f
    sigma_true = math.sqrt(ideal * (1 - ideal) / n)
    assert abs(r["qber_true"] - ideal) < 5 * sigma_true
    sigma_est = math.sqrt(ideal * (1 - ideal) / r["sample_bits"])
    assert abs(r["qber"] - ideal) < 5 * sigma_est
    # 0.1 < 0.11: usually continues; Cascade must then reconcile exactly (at QBER ~0.1 the
    # finite-size privacy amplification may leave no key at all, which is the honest answer)
    if not r["aborted"]:
        assert r["verified"] and r["residual_errors"] == 0
        assert r["alice_key"] == r["bob_key"]
        assert r["keys_match"] == (r["key_bits"] > 0)


def test_full_eve_aborts():
    r = run_bb84(3000, eve=1.0, seed=2)
    assert r["qber"] > 0.11
    assert r["aborted"] and not r["keys_match"] and r["key_bits"] == 0


def test_depolarising_noise_gives_half_p_and_cascade_agrees():
    p = 0.1
    r = run_bb84(8000, noise=p, seed=9)
    sigma = math.sqrt(0.05 * 0.95 / r["sifted"])
    assert abs(r["qber_true"] - p / 2) < 5 * sigma
    assert not r["aborted"]
    assert r["errors_corrected"] > 0
    assert r["residual_errors"] == 0
    assert r["keys_match"]
    # privacy amplification removed at least the leakage
    assert r["key_bits"] <= r["reconciled_bits"] - r["leaked_bits"]


def test_cascade_corrects_and_leaks_between_shannon_limit_and_1_5x():
    rng = np.random.default_rng(0)
    n, q = 6000, 0.05
    a = rng.integers(0, 2, n, dtype=np.uint8)
    flips = rng.random(n) < q
    b = a ^ flips.astype(np.uint8)
    res = cascade(a, b, q, rng)
    assert np.array_equal(res.corrected, a)
    actual_q = flips.mean()
    assert res.leaked_bits >= n * _h2(actual_q)
    assert res.leaked_bits <= 1.5 * n * _h2(actual_q)


def test_toeplitz_hash_matches_explicit_matrix():
    rng = np.random.default_rng(1)
    n, m = 300, 120
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    # T[i, j] = s[i - j + n - 1]: first column s[n-1 : n-1+m], first row s[n-1], s[n-2], ..., s[0]
    t = toeplitz(s[n - 1 : n - 1 + m], s[n - 1 :: -1])
    expected = (t.astype(np.int64) @ x.astype(np.int64)) % 2
    assert np.array_equal(toeplitz_hash(x, m, s), expected.astype(np.uint8))


def _hkdf_rfc5869(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def test_hybrid_transfer_key_is_hkdf_over_both_secrets():
    bb = bytes(range(40))
    ss = bytes(range(100, 132))
    k = hybrid_transfer_key(bb, ss, context=b"site-a->site-b")
    ref = _hkdf_rfc5869(
        len(bb).to_bytes(4, "big") + bb + ss,
        b"qmedchain/hybrid-transfer-key/v1",
        b"bb84+mlkem|site-a->site-b",
        32,
    )
    assert k == ref and len(k) == 32
    assert hybrid_transfer_key(bb[:-1] + b"\x00", ss, context=b"site-a->site-b") != k
    assert hybrid_transfer_key(bb, ss[:-1] + b"\x00", context=b"site-a->site-b") != k
    assert hybrid_transfer_key(bb, ss, context=b"other") != k
    with pytest.raises(QuantumParamError):
        hybrid_transfer_key(b"", ss, context=b"x")


@pytest.mark.parametrize(
    "kwargs",
    [dict(qubits=0), dict(qubits=-3), dict(qubits=100, eve=1.5), dict(qubits=100, noise=-0.1)],
)
def test_bad_parameters_refused(kwargs):
    n = kwargs.pop("qubits")
    with pytest.raises(QuantumParamError):
        run_bb84(n, **kwargs)


def test_site_to_site_transfer_key_with_real_ml_kem():
    """Both sites derive the same key from a BB84 run and an ML-KEM-768 encapsulation."""
    from pqcrypto.kem import ml_kem_768

    r = run_bb84(2000, seed=21)
    k_alice = bytes.fromhex(r["alice_key"])
    k_bob = bytes.fromhex(r["bob_key"])
    pk, sk = ml_kem_768.generate_keypair()
    ct, ss_sender = ml_kem_768.encrypt(pk)
    ss_receiver = ml_kem_768.decrypt(sk, ct)
    t1 = hybrid_transfer_key(k_alice, ss_sender, context=b"transfer:42")
    t2 = hybrid_transfer_key(k_bob, ss_receiver, context=b"transfer:42")
    assert t1 == t2
    # an attacker who somehow knows the (simulated) BB84 key still lacks the ML-KEM secret
    assert hybrid_transfer_key(k_alice, bytes(32), context=b"transfer:42") != t1
