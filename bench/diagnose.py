"""Benchmark of the diagnosis models; prints ONE JSON object.

    python bench/diagnose.py [--data PATH.npz]

One core (BLAS pools limited to 1 thread).  Machines are noisy, so a baseline is measured
in the same run: a plain float32 numpy matmul with the same shape as the classical model's
largest product (batch × 128 PCA dims × support vectors), and ratios are reported with it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _rss_mb() -> float:
    try:
        import psutil

        return psutil.Process(os.getpid()).memory_info().rss / 2**20
    except ImportError:  # pragma: no cover
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best_rate(fn, n_items: int, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_items / best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/work/shared/data/pneumoniamnist_trainval.npz")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        result = run(args)
    print(json.dumps(result, sort_keys=True))


def run(args) -> dict:
    from imaging.ml import contract
    from imaging.ml.api import load_model

    rss0 = _rss_mb()
    if os.path.exists(args.data):
        from imaging.ml.data import load_split

        raw = load_split(args.data, "val").images
        source = "val split"
    else:
        raw = np.random.default_rng(0).integers(0, 256, (524, 28, 28), dtype=np.uint8)
        source = "random pixels (data file absent)"
    reps = int(np.ceil(args.batch / raw.shape[0]))
    raw = np.concatenate([raw] * reps)[: args.batch]
    images = np.stack([contract.pipeline_preprocess(im) for im in raw])  # (n, 128, 128) float32
    n = images.shape[0]

    t0 = time.perf_counter()
    cm = load_model("classical")
    classical_load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    qm = load_model("qcnn")
    qcnn_load_s = time.perf_counter() - t0
    rss_models = _rss_mb()

    cm.predict_proba_batch(images[:10])  # warm-up
    classical_ips = _best_rate(lambda: cm.predict_proba_batch(images), n)
    lat = []
    for i in range(300):
        t0 = time.perf_counter()
        cm.predict(images[i % n])
        lat.append((time.perf_counter() - t0) * 1e3)
    lat = np.array(lat[20:])
    qcnn_ips = _best_rate(lambda: qm.predict_proba_batch(images), n, repeats=3)
    qlat = []
    for i in range(100):
        t0 = time.perf_counter()
        qm.predict(images[i % n])
        qlat.append((time.perf_counter() - t0) * 1e3)
    qlat = np.array(qlat[10:])

    # baseline: plain numpy matmul of the classical model's largest product
    k = cm._sv.shape[1]
    a = np.random.default_rng(1).random((n, k), dtype=np.float32)
    b = np.random.default_rng(2).random((cm._sv.shape[0], k), dtype=np.float32)
    matmul_per_s = _best_rate(lambda: a @ b.T, 1)
    t_matmul = 1.0 / matmul_per_s
    t_batch = n / classical_ips
    return {
        "input": f"{n} images 128x128 float32 from {source}",
        "threads": 1,
        "classical_model_id": cm.model_id,
        "classical_batch_images_per_s": round(classical_ips, 1),
        "classical_single_latency_ms_p50": round(float(np.percentile(lat, 50)), 3),
        "classical_single_latency_ms_p99": round(float(np.percentile(lat, 99)), 3),
        "qcnn_model_id": qm.model_id,
        "qcnn_batch_images_per_s": round(qcnn_ips, 1),
        "qcnn_single_latency_ms_p50": round(float(np.percentile(qlat, 50)), 3),
        "classical_load_s": round(classical_load_s, 4),
        "qcnn_load_s": round(qcnn_load_s, 4),
        "rss_mb_before_load": round(rss0, 1),
        "rss_mb_after_load": round(rss_models, 1),
        "rss_mb_end": round(_rss_mb(), 1),
        "baseline_matmul_shape": [n, k, int(cm._sv.shape[0])],
        "baseline_matmul_ms": round(t_matmul * 1e3, 3),
        "classical_batch_time_over_baseline_matmul": round(t_batch / t_matmul, 2),
        "targets": {
            "classical_batch_images_per_s": 2000,
            "classical_single_latency_ms": 5,
            "qcnn_images_per_s": 20,
        },
    }


if __name__ == "__main__":
    main()
