"""NEQR encryption: circuit == classical path, exact round trips, Wu-Noonan-Agaian statistics."""

import json

import numpy as np
import pytest
from PIL import Image
from scipy.stats import chi2, norm

from quantum import QuantumParamError, neqr


@pytest.fixture(scope="module")
def key():
    return neqr.NeqrKey.generate(seed=1234)


@pytest.fixture(scope="module")
def camera256():
    import skimage.data

    cam = skimage.data.camera()  # 512 x 512 natural image shipped with scikit-image
    return np.asarray(Image.fromarray(cam).resize((256, 256), Image.BILINEAR), dtype=np.uint8)


def test_neqr_state_preparation_measures_back_the_image():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (4, 4), dtype=np.uint8)
    qc = neqr.neqr_prepare(img)
    assert qc.num_qubits == 2 * 2 + 8
    out, _ = neqr.measure_image(qc, 4, seed=1)
    assert np.array_equal(out, img)


@pytest.mark.parametrize("side", [8, 16])
def test_circuit_and_classical_paths_identical(key, side):
    rng = np.random.default_rng(side)
    img = rng.integers(0, 256, (side, side), dtype=np.uint8)
    c_circ, info = neqr.encrypt_padded(img, key, use_circuit=True, seed=3)
    assert info["path"] == "circuit" and info["qubits"] == 2 * side.bit_length() - 2 + 8
    c_cls, info2 = neqr.encrypt_padded(img, key, use_circuit=False)
    assert info2["path"] == "classical"
    assert np.array_equal(c_circ, c_cls)
    # the inverse circuit is measured back to the plaintext too
    p_circ, _ = neqr.decrypt_padded(c_cls, key, use_circuit=True, seed=4)
    assert np.array_equal(p_circ, img)


def test_quantum_stage_alone_matches_on_structured_image(key):
    img = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    sch = neqr.schedule(key, 8)
    q, _ = neqr.quantum_stage_circuit(img, sch, seed=9)
    assert np.array_equal(q, neqr.quantum_stage_classical(img, sch))
    assert not np.array_equal(q, img)


def test_round_trip_exact_with_padding_and_png(tmp_path, key):
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (37, 50), dtype=np.uint8)
    cipher, meta, info = neqr.encrypt_image(img, key)
    assert cipher.shape == (64, 64) and info["path"] == "classical"
    path = tmp_path / "c.png"
    neqr.write_cipher_png(str(path), cipher, meta)
    c2, meta2 = neqr.read_cipher_png(str(path))
    assert np.array_equal(c2, cipher) and meta2 == meta
    plain, _ = neqr.decrypt_image(c2, meta2, key)
    assert np.array_equal(plain, img)


def test_wrong_key_refused_and_one_bit_key_change_gives_garbage(key, camera256):
    small = camera256[::4, ::4].copy()
    cipher, meta, _ = neqr.encrypt_image(small, key)
    other = key.flip_bit(200)
    with pytest.raises(QuantumParamError):
        neqr.decrypt_image(cipher, meta, other)
    wrong, _ = neqr.decrypt_padded(cipher, other, use_circuit=False)
    assert np.mean(wrong != small) > 0.98


def _wu_bounds(n_pixels: int, alpha: float):
    """Critical values of Wu, Noonan & Agaian (2011) for 8-bit images."""
    f = 255.0
    z = norm.ppf(1 - alpha)
    z2 = norm.ppf(1 - alpha / 2)
    mu_n = f / (f + 1)
    sd_n = np.sqrt(f / ((f + 1) ** 2 * n_pixels))
    mu_u = (f + 2) / (3 * f + 3)
    sd_u = np.sqrt((f + 2) * (f**2 + 2 * f + 3) / (18 * (f + 1) ** 2 * f * n_pixels))
    return 100 * (mu_n - z * sd_n), (100 * (mu_u - z2 * sd_u), 100 * (mu_u + z2 * sd_u))


def test_npcr_uaci_entropy_correlation_on_256(key, camera256):
    cipher, meta, _ = neqr.encrypt_image(camera256, key)
    res = neqr.analyze(camera256, cipher, meta, key, seed=11)
    assert res["simulated"] and res["cipher_matches_plain"] and res["decrypts_exactly"]
    npcr_min, (uaci_lo, uaci_hi) = _wu_bounds(256 * 256, 0.001)
    assert res["npcr"] >= npcr_min
    assert uaci_lo <= res["uaci"] <= uaci_hi
    assert res["key_sensitivity_npcr"] >= npcr_min
    # plug-in entropy of 65536 uniform bytes: mean 8 - 255/(2 N ln 2) = 7.99719, sd ~ 2.5e-4
    assert res["entropy"] >= 7.996
    # adjacent-pixel correlation of an ideal cipher: sd 1/sqrt(65280) = 0.0039; 5 sd bound
    for k in ("corr_h", "corr_v", "corr_d"):
        assert abs(res[k]) <= 0.02
    assert res["plain_correlations"]["corr_h"] > 0.8  # the test image is a natural image


def test_npcr_uaci_are_means_over_trials_and_meet_the_issue_band(key, camera256):
    cipher, meta, _ = neqr.encrypt_image(camera256, key)
    res = neqr.analyze(camera256, cipher, meta, key, seed=3, trials=5)
    assert res["trials"] == 5 and len(res["uaci_trials"]) == 5 and len(set(map(tuple, res["changed_pixels"]))) == 5
    assert res["npcr"] == pytest.approx(np.mean(res["npcr_trials"]))
    assert res["uaci"] == pytest.approx(np.mean(res["uaci_trials"]))
    # the mean of 5 pairs has sd ~0.04 %, so the issue's band is ~3.6 sd wide on each side
    assert 33.46 - 0.15 <= res["uaci"] <= 33.46 + 0.15
    assert res["npcr"] >= 99.58
    with pytest.raises(QuantumParamError):
        neqr.analyze(camera256, cipher, meta, key, trials=0)


def test_single_pixel_changes_at_start_and_end_diffuse(key, camera256):
    img = camera256[:64, :64].copy()
    c1, _ = neqr.encrypt_padded(img, key, use_circuit=False)
    npcr_min, _ = _wu_bounds(64 * 64, 0.001)
    for y, x in [(0, 0), (63, 63), (31, 17)]:
        img2 = img.copy()
        img2[y, x] ^= 1
        c2, _ = neqr.encrypt_padded(img2, key, use_circuit=False)
        npcr, _ = neqr.npcr_uaci(c1, c2)
        assert npcr >= npcr_min


@pytest.mark.parametrize("seed", [1234, 1, 2, 3, 4, 5])
def test_chaotic_stream_is_key_sensitive_and_uniform(seed):
    k = neqr.NeqrKey.generate(seed=seed)
    s1 = neqr.chaotic_bytes(k, 65536)
    for bit in (47, 255):  # least significant bits of x_1(0) and of eps
        s2 = neqr.chaotic_bytes(k.flip_bit(bit), 65536)
        assert np.mean(s1 != s2) > 0.99
    counts = np.bincount(s1, minlength=256)
    stat = ((counts - 256.0) ** 2 / 256.0).sum()
    assert stat < chi2.ppf(0.9999, 255)
    # no short cycle: the stream's second half does not repeat its first
    assert not np.array_equal(s1[:4096], s1[4096:8192])


def test_key_file_round_trip_and_bad_files(tmp_path, key):
    p = tmp_path / "k.json"
    key.save(str(p))
    assert neqr.NeqrKey.load(str(p)) == key
    assert json.loads(p.read_text())["map"]["name"].startswith("cml4-pwlcm")
    bad = tmp_path / "bad.json"
    bad.write_text('{"scheme": "qmedchain-neqr-v1", "key": "00"}')
    with pytest.raises(ValueError):
        neqr.NeqrKey.load(str(bad))


@pytest.mark.parametrize("shape", [(6, 6), (8, 4), (0, 0)])
def test_non_power_of_two_refused_where_not_padded(key, shape):
    with pytest.raises(QuantumParamError):
        neqr.encrypt_padded(np.zeros(shape, dtype=np.uint8), key)
