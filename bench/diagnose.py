"""Benchmark of the diagnosis models; prints ONE JSON object.

    python bench/diagnose.py [--data PATH.npz]

One core (BLAS pools limited to 1 thread, ``OMP_NUM_THREADS=1``, ONNX Runtime intra-op 1).
Machines are noisy, so a baseline is measured in the same run: a plain float32 numpy matmul
with the same shape as the classical model's largest product (batch × 128 PCA dims × support
vectors), and ratios are reported with it.

Also the CNN (ONNX Runtime): images/s in batches, single-image latency p50/p99, and the whole
diagnose stage of one image (applicability gate ``imaging.ml.ood`` if present + model +
saliency) against the model alone, for the CNN and for the active default (the ensemble).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

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
        result.update(run_cnn(args))
    print(json.dumps(result, sort_keys=True))


def _latencies(fn, images, n=300, warm=20) -> np.ndarray:
    out = []
    for i in range(n + warm):
        t0 = time.perf_counter()
        fn(images[i % images.shape[0]])
        out.append((time.perf_counter() - t0) * 1e3)
    return np.array(out[warm:])


def _images(args, n):
    from imaging.ml import contract

    if os.path.exists(args.data):
        from imaging.ml.data import load_split

        raw = load_split(args.data, "val").images
    else:
        raw = np.random.default_rng(0).integers(0, 256, (524, 28, 28), dtype=np.uint8)
    raw = np.concatenate([raw] * int(np.ceil(n / raw.shape[0])))[:n]
    return np.stack([contract.pipeline_preprocess(im) for im in raw])


def run_cnn(args) -> dict:
    from imaging.ml.api import DEFAULT_KIND, load_model

    images = _images(args, args.batch)
    n = images.shape[0]
    cnn = load_model("cnn")
    active = load_model(DEFAULT_KIND)
    cnn.predict_proba_batch(images[:16])
    cnn_ips = _best_rate(lambda: cnn.predict_proba_batch(images), n)
    lat = _latencies(cnn.predict, images)

    try:
        from imaging.ml.ood import load_detector

        det = load_detector()
        gate = det.check
        gate_note = "imaging.ml.ood detector included"
    except Exception as exc:  # noqa: BLE001 - the gate is another module's; skipped with a note
        gate = None
        gate_note = f"imaging.ml.ood not usable ({type(exc).__name__}); gate skipped"

    def stage(model):
        def fn(im):
            if gate is not None:
                gate(im)
            model.predict(im)
            model.saliency(im)

        return fn

    out = {}
    for name, model in (("cnn", cnn), ("active_" + DEFAULT_KIND, active)):
        alone = _latencies(model.predict, images, n=200)
        full = _latencies(stage(model), images, n=200)
        out[f"stage_{name}_model_alone_ms_p50"] = round(float(np.percentile(alone, 50)), 3)
        out[f"stage_{name}_full_ms_p50"] = round(float(np.percentile(full, 50)), 3)
        out[f"stage_{name}_full_over_model_alone"] = round(
            float(np.percentile(full, 50) / np.percentile(alone, 50)), 2
        )
    a = np.random.default_rng(1).random((n, 128), dtype=np.float32)
    b = np.random.default_rng(2).random((2249, 128), dtype=np.float32)
    t_matmul = 1.0 / _best_rate(lambda: a @ b.T, 1)
    out.update(
        {
            "cnn_model_id": cnn.model_id,
            "cnn_batch_images_per_s": round(cnn_ips, 1),
            "cnn_single_latency_ms_p50": round(float(np.percentile(lat, 50)), 3),
            "cnn_single_latency_ms_p99": round(float(np.percentile(lat, 99)), 3),
            "cnn_batch_time_over_baseline_matmul": round((n / cnn_ips) / t_matmul, 2),
            "cnn_baseline_matmul_ms": round(t_matmul * 1e3, 3),
            "active_kind": DEFAULT_KIND,
            "stage_gate": gate_note,
            "cnn_targets": {"batch_images_per_s": 200, "single_latency_ms": 15, "stage_over_model": 2.0},
        }
    )
    return out


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
