"""The CLI via subprocess: one JSON object on stdout, bad parameters -> one line, exit 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def run(*args, expect=0):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, "-m", "quantum", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert p.returncode == expect, p.stderr
    return p


def run_json(*args):
    p = run(*args, "--json")
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["simulated"] is True
    return data


def test_bb84_json_and_plot(tmp_path):
    out = tmp_path / "bb.png"
    d = run_json("bb84", "--qubits", 1500, "--seed", 4, "--plot", out)
    for k in ("sifted", "qber", "aborted", "key_bits", "leaked_bits", "keys_match"):
        assert k in d
    assert d["keys_match"] and d["qber"] == 0.0
    assert out.stat().st_size > 1000


def test_neqr_cli_round_trip_and_analyze(tmp_path):
    rng = np.random.default_rng(0)
    img = (np.add.outer(np.arange(40), np.arange(70)) * 3 % 256).astype(np.uint8)
    img[5:9, 5:9] = rng.integers(0, 256, (4, 4))
    Image.fromarray(img).save(tmp_path / "p.png")
    key = tmp_path / "k.json"
    run_json("neqr", "keygen", key)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    e = run_json("neqr", "encrypt", tmp_path / "p.png", tmp_path / "c.png", "--key", key)
    assert e["path"] == "classical" and e["side"] == 128
    run_json("neqr", "decrypt", tmp_path / "c.png", tmp_path / "d.png", "--key", key)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "d.png")), img)
    a = run_json("neqr", "analyze", tmp_path / "p.png", tmp_path / "c.png", "--key", key, "--seed", 1)
    for k in ("npcr", "uaci", "entropy", "corr_h", "corr_v", "corr_d", "key_sensitivity_npcr"):
        assert isinstance(a[k], float)
    assert a["decrypts_exactly"] and a["npcr"] > 99.0


def test_qhash_cli_matches_library_and_file(tmp_path):
    from quantum.qwalk_hash import qwalk_hexdigest

    p = run("qhash", "--hex", "616263")
    assert p.stdout.strip() == qwalk_hexdigest(b"abc")
    f = tmp_path / "m.bin"
    f.write_bytes(b"abc")
    assert run_json("qhash", "--file", f)["digest"] == qwalk_hexdigest(b"abc")
    s = run_json("qhash-stats", "--samples", 50, "--seed", 1)
    assert set(s["omega"]) == {"0", "1", "2", "3"} and "collisions" in s


def test_bellauth_and_ghost_json(tmp_path):
    b = run_json("bellauth", "--pairs", 64, "--checked", 8, "--attack", "intercept", "--seed", 2)
    assert abs(b["detection_probability_theory"] - (1 - 0.75**8)) < 1e-12
    img = (np.indices((32, 32)).sum(axis=0) * 4).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "g.png")
    g = run_json(
        "ghost",
        tmp_path / "g.png",
        "--ratio",
        0.3,
        "--method",
        "dgi",
        "--size",
        32,
        "--out",
        tmp_path / "o.png",
    )
    assert g["measurements"] == round(0.3 * 32 * 32) and "psnr" in g and "ssim" in g
    assert Image.open(tmp_path / "o.png").size == (32, 32)


@pytest.mark.parametrize(
    "args",
    [
        ["bb84", "--qubits", "-5"],
        ["bb84", "--qubits", "100", "--eve", "2"],
        ["ghost", "--ratio", "0"],
        ["ghost", "--ratio", "1.5"],
        ["ghost", "--size", "12", "--patterns", "hadamard"],
        ["bellauth", "--pairs", "4", "--checked", "9"],
        ["neqr", "encrypt", "IN.png", "OUT.png", "--key", "/nonexistent/key.json"],
        ["qhash-stats", "--samples", "0"],
    ],
)
def test_bad_parameters_one_line_exit_2(args):
    p = run(*args, expect=2)
    assert p.stderr.startswith("error: ")
    assert len(p.stderr.strip().splitlines()) == 1
    assert "Traceback" not in p.stderr


def test_unreadable_png_and_missing_key(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    key = tmp_path / "k.json"
    run("neqr", "keygen", key)
    p = run("neqr", "encrypt", bad, tmp_path / "o.png", "--key", key, expect=2)
    assert "bad.png" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = run("ghost", tmp_path / "missing.png", expect=2)
    assert "not found" in p.stderr
