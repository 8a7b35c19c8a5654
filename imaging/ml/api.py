"""Public entry points: load models, predict, evaluate, train and write artifacts + cards.

Pure: no Django import.  ``python -m imaging.ml`` wraps these as a command line.
"""

from __future__ import annotations

import platform
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import contract
from .artifacts import ARTIFACT_DIR, read_artifact, write_artifact
from .cards import render_card
from .data import load_split
from .metrics import binary_metrics, bootstrap_ci

KINDS = ("classical", "qcnn", "cnn", "ensemble")
# The model activated on a fresh registry: the best on cross-validation (see the ensemble card).
# ``imaging.model_registry.DEFAULT_KIND`` is the same value (a test checks it).
DEFAULT_KIND = "ensemble"
ACTIVE = "active"


def resolve_kind(kind: str) -> str:
    """``active`` → the default kind (the Django command asks the registry first)."""
    return DEFAULT_KIND if kind == ACTIVE else kind


def _model_class(kind: str):
    if kind == "cnn":
        from .cnn import CNNModel

        return CNNModel
    if kind == "ensemble":
        from .ensemble import EnsembleModel

        return EnsembleModel
    if kind == "classical":
        from .classical import ClassicalModel

        return ClassicalModel
    if kind == "qcnn":
        from .qcnn import QCNNModel

        return QCNNModel
    raise ValueError(f"unknown model {kind!r}; choose one of {', '.join(KINDS)}")


def load_model(kind: str, directory: Path | None = None):
    """Load a committed model; the SHA-256 of the artifact bytes is verified against its card."""
    kind = resolve_kind(kind)
    cls = _model_class(kind)
    arrays, card, digest = read_artifact(kind, directory)
    if kind == "ensemble":
        return cls(arrays, card, digest, directory=directory)
    return cls(arrays, card, digest)


@lru_cache(maxsize=4)
def _cached(kind: str):
    return load_model(kind)


def predict(image128: np.ndarray, kind: str = "classical") -> tuple[str, float]:
    """One 128×128 pipeline image → ("normal" | "pneumonia", P(pneumonia))."""
    return _cached(kind).predict(image128)


def predict_batch(images, kind: str = "classical") -> list[tuple[str, float]]:
    return _cached(kind).predict_batch(images)


def evaluate(model, images: np.ndarray, labels: np.ndarray) -> dict:
    """Metrics of ``model`` on MedMNIST images (uint8 (n, H, W)), sent through the pipeline route.

    Returns {auc, acc, sensitivity, specificity, n, model_id} (+ sha256, threshold).
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise contract.InputError(f"images must be (n, H, W); got shape {images.shape}")
    if images.dtype == np.uint8:
        grid = contract.medmnist_to_model_grid(images)
    else:
        grid = np.stack([contract.to_model_grid(contract.check_image(im)) for im in images])
    scores = model.proba_grid(grid)
    out = binary_metrics(labels, scores, model.threshold)
    out.update(model_id=model.model_id, sha256=model.sha256, threshold=model.threshold)
    return out


def evaluate_file(path, split: str, kind: str, directory: Path | None = None) -> dict:
    s = load_split(path, split)
    resolved = resolve_kind(kind)
    model = load_model(resolved, directory)
    out = evaluate(model, s.images, s.labels)
    out["split"] = split
    out["kind"] = resolved
    if kind == ACTIVE:
        out["requested"] = ACTIVE
    return out


def train_and_save(
    path, kind: str, seed: int | None = None, directory: Path | None = None, log=print
) -> dict:
    """Train ``kind`` on ``train`` of ``path``, threshold/metrics on ``val``; write npz + json + md."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # one core, and bit-for-bit reproducible BLAS reductions
        if kind in ("cnn", "ensemble"):
            from .trainer import train_and_save_cnn, train_and_save_ensemble

            fn = train_and_save_cnn if kind == "cnn" else train_and_save_ensemble
            return fn(path, seed=seed, directory=directory, log=log)
        return _train_and_save(path, kind, seed, directory, log)


def _train_and_save(path, kind, seed, directory, log) -> dict:
    tr = load_split(path, "train")
    va = load_split(path, "val")
    _model_class(kind)
    if kind == "classical":
        from . import classical as mod

        seed = mod.DEFAULT_SEED if seed is None else seed
        arrays, info = mod.train_classical(tr.images, tr.labels, va.images, va.labels, seed=seed, log=log)
    else:
        from . import qcnn as mod

        seed = mod.DEFAULT_SEED if seed is None else seed
        arrays, info = mod.train_qcnn(tr.images, tr.labels, va.images, va.labels, seed=seed, log=log)
    card = {
        "name": kind,
        "model_id": mod.MODEL_ID,
        "version": mod.VERSION,
        "task": "pneumonia-vs-normal (chest X-ray), label 1 = pneumonia",
        "threshold": info["threshold"],
        "seed": seed,
        "training_data": {
            "file": Path(tr.path).name,
            "train": {
                "n": int(tr.labels.size),
                "normal": int((tr.labels == 0).sum()),
                "pneumonia": int((tr.labels == 1).sum()),
            },
            "val": {
                "n": int(va.labels.size),
                "normal": int((va.labels == 0).sum()),
                "pneumonia": int((va.labels == 1).sum()),
            },
        },
        "training_seconds": info["training_seconds"],
        "hyper_parameters": info["hyper_parameters"],
        "cv": info.get("cv"),
        "quantum": info.get("quantum"),
        "environment": {"python": platform.python_version(), "numpy": np.__version__},
    }
    # validation metrics of the *saved* model (reloaded from disk, as `evaluate` does)
    tmp_digest = write_artifact(kind, arrays, dict(card, validation={}), "", directory)
    model = load_model(kind, directory)
    grid = contract.medmnist_to_model_grid(va.images)
    scores = model.proba_grid(grid)
    t0 = time.perf_counter()
    model.proba_grid(grid)
    per_img_ms = (time.perf_counter() - t0) / grid.shape[0] * 1e3
    val = binary_metrics(va.labels, scores, model.threshold)
    val["ci95"] = bootstrap_ci(va.labels, scores, model.threshold, n_boot=2000, seed=seed)
    val["at_threshold_0.5"] = {k: v for k, v in binary_metrics(va.labels, scores, 0.5).items() if k != "n"}
    card["validation"] = val
    card["inference_ms_per_image_batch_measured_at_training"] = round(per_img_ms, 4)
    digest = write_artifact(kind, arrays, card, render_card(card, kind), directory)
    if digest != tmp_digest:
        raise RuntimeError(
            f"{kind}: the written artefact's digest {digest} differs from the trained one {tmp_digest}"
        )
    log(f"{kind}: wrote {kind}.npz sha256={digest} val={ {k: val[k] for k in ('auc', 'acc')} }")
    return dict(card, sha256=digest)


__all__ = [
    "ARTIFACT_DIR",
    "DEFAULT_KIND",
    "KINDS",
    "evaluate",
    "evaluate_file",
    "load_model",
    "predict",
    "predict_batch",
    "train_and_save",
]
