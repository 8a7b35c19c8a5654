"""Quantum-lab measurements against ideal values; prints one JSON object.

    .venv/bin/python bench/quantum.py [--quick]

All numbers are from simulations (qiskit-aer / numpy), seeded.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quantum import bb84, bell_auth, ghost, neqr, qwalk_hash  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist_trainval.npz"


def _camera(side: int) -> np.ndarray:
    import skimage.data
    from PIL import Image

    cam = skimage.data.camera()
    return np.asarray(Image.fromarray(cam).resize((side, side), Image.BILINEAR), dtype=np.uint8)


def bench_bb84(quick: bool) -> list[dict]:
    n = 4000 if quick else 20000
    rows = []
    for eve, noise in [(0.0, 0.0), (0.2, 0.0), (0.4, 0.0), (1.0, 0.0), (0.0, 0.05), (0.0, 0.1)]:
        r = bb84.run_bb84(n, eve=eve, noise=noise, seed=1)
        rows.append(
            {
                k: r.get(k)
                for k in (
                    "qubits",
                    "eve_fraction",
                    "noise",
                    "sifted",
                    "qber",
                    "qber_true",
                    "qber_ideal",
                    "aborted",
                    "key_bits",
                    "leaked_bits",
                    "keys_match",
                )
            }
        )
    return rows


def bench_neqr(quick: bool) -> list[dict]:
    key = neqr.NeqrKey.generate(seed=2024)
    rows = []
    for side in (256,) if quick else (256, 512):
        img = _camera(side)
        c, meta, _ = neqr.encrypt_image(img, key)
        runs = [neqr.analyze(img, c, meta, key, seed=s) for s in range(3 if quick else 5)]
        rows.append(
            {
                "side": side,
                "runs": len(runs),
                "npcr": [r["npcr"] for r in runs],
                "uaci": [r["uaci"] for r in runs],
                "key_sensitivity_npcr": [r["key_sensitivity_npcr"] for r in runs],
                "entropy": runs[0]["entropy"],
                "corr_h": runs[0]["corr_h"],
                "corr_v": runs[0]["corr_v"],
                "corr_d": runs[0]["corr_d"],
                "decrypts_exactly": all(r["decrypts_exactly"] for r in runs),
            }
        )
    t0 = time.perf_counter()
    small = _camera(32)
    cq, _ = neqr.encrypt_padded(small, key, use_circuit=True, seed=1)
    cc, _ = neqr.encrypt_padded(small, key, use_circuit=False)
    rows.append(
        {
            "side": 32,
            "circuit_equals_classical": bool(np.array_equal(cq, cc)),
            "circuit_s": time.perf_counter() - t0,
        }
    )
    return rows


def bench_qhash(quick: bool) -> dict:
    s = qwalk_hash.stats(1000 if quick else 10000, message_bytes=128, seed=3)
    s["digests_per_s_1KiB"] = qwalk_hash.throughput(1024, 100)
    return s


def bench_bell(quick: bool) -> list[dict]:
    trials = 200 if quick else 1000
    rows = []
    for attack in ("none", "intercept", "entangle"):
        for k in (4, 8):
            r = bell_auth.run_bell_auth(100, k, attack, trials=trials, seed=k)
            rows.append(
                {
                    "attack": attack,
                    "checked": k,
                    "trials": trials,
                    "mean_error_rate": r["mean_error_rate"],
                    "error_rate_theory": r["error_rate_theory"],
                    "detection_rate": r["detection_rate"],
                    "detection_probability_theory": r["detection_probability_theory"],
                }
            )
    return rows


def bench_ghost(quick: bool) -> dict:
    if DATA.exists():
        img = ghost.prepare_image(np.load(DATA)["val_images"][0], 32 if quick else 64)
        src = "PneumoniaMNIST val_images[0]"
    else:
        img = ghost.default_phantom(32 if quick else 64)
        src = "Shepp-Logan phantom"
    res = ghost.sweep(img, seed=1)
    res["source"] = src
    return res


def main() -> None:
    quick = "--quick" in sys.argv
    os.environ.setdefault("MPLBACKEND", "Agg")
    out = {"simulated": True, "quick": quick}
    for name, fn in [
        ("bb84", bench_bb84),
        ("neqr", bench_neqr),
        ("qhash", bench_qhash),
        ("bellauth", bench_bell),
        ("ghost", bench_ghost),
    ]:
        t0 = time.perf_counter()
        out[name] = fn(quick)
        out[f"{name}_seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
