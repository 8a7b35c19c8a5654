"""The secondary quantum-walk fingerprint: exactly what is hashed, cheap, and sensitive."""

import hashlib
import time

import numpy as np

from imaging import pipeline, preprocess
from quantum.qwalk_hash import qwalk_hexdigest


def _matrix(seed=0):
    return np.random.default_rng(seed).random((128, 128)).astype(np.float32)


def test_message_layout_is_prefix_sha256_and_4x4_block_means():
    m = _matrix()
    sha = preprocess.pixel_sha256(m)
    msg = pipeline.qwalk_message(m, sha)
    assert len(msg) == 12 + 32 + 1024
    assert msg[:12] == b"QMC-QWALK-v1"
    assert msg[12:44] == hashlib.sha256(preprocess.canonical_bytes(m)).digest()
    block = m[:4, :4].astype(np.float64).mean()
    assert msg[44] == int(np.round(block * 255))
    assert pipeline.qwalk_fingerprint(m, sha) == qwalk_hexdigest(msg)


def test_fingerprint_is_deterministic_and_changes_with_one_pixel():
    m = _matrix()
    a = pipeline.qwalk_fingerprint(m, preprocess.pixel_sha256(m))
    assert a == pipeline.qwalk_fingerprint(m.copy(), preprocess.pixel_sha256(m.copy()))
    m2 = m.copy()
    m2[64, 64] = np.float32(m2[64, 64] + 1e-4)  # invisible in the 8-bit downsample, seen by SHA-256
    b = pipeline.qwalk_fingerprint(m2, preprocess.pixel_sha256(m2))
    assert len(a) == 64 and a != b
    diff = bin(int(a, 16) ^ int(b, 16)).count("1")
    assert 80 < diff < 176  # avalanche around 128 of 256 bits


def test_fingerprint_costs_little():
    m = _matrix(1)
    sha = preprocess.pixel_sha256(m)
    pipeline.qwalk_fingerprint(m, sha)
    t = time.process_time()
    for _ in range(10):
        pipeline.qwalk_fingerprint(m, sha)
    assert (time.process_time() - t) / 10 < 0.05  # measured ~3 ms
