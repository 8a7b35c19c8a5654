"""Training + card writing for the CNN and the ensemble (``make train``; never imported by the worker).

* :func:`train_and_save_cnn`: 5-fold CV on train + val (``cnn_train``), final fit, ONNX artifact,
  out-of-fold logits in ``cnn.oof.npz`` (what the ensemble is fitted on), card + reliability SVG.
* :func:`train_and_save_ensemble`: out-of-fold SVM decision values of the classical recipe on the
  SAME folds, logistic stacking, nested CV, threshold, card; it also adds the cross-validation
  table, calibration (ECE, reliability diagram) and speed to the classical card (whose artifact,
  and so SHA-256, is unchanged).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from . import contract
from .artifacts import ARTIFACT_DIR, npz_bytes, read_artifact, write_artifact
from .calibration import apply_temperature, balanced_weights, ece, reliability, reliability_svg, sigmoid
from .cards import render_card
from .data import load_split
from .metrics import balanced_threshold, binary_metrics, cv_table

CV_SCHEME = "5-fold StratifiedKFold (shuffled, seeded) on train + val pooled (n = 4,406)"


def _pooled(path):
    tr = load_split(path, "train")
    va = load_split(path, "val")
    images = np.concatenate([tr.images, va.images])
    labels = np.concatenate([tr.labels.ravel(), va.labels.ravel()]).astype(int)
    is_val = np.r_[np.zeros(tr.labels.size, bool), np.ones(va.labels.size, bool)]
    return tr, va, images, labels, is_val


def _data_card(tr, va) -> dict:
    def c(s):
        return {
            "n": int(s.labels.size),
            "normal": int((s.labels == 0).sum()),
            "pneumonia": int((s.labels == 1).sum()),
        }

    return {"file": Path(tr.path).name, "train": c(tr), "val": c(va)}


def calibration_block(kind, y, is_val, p_before, p_after, method, directory, n_bins=15) -> dict:
    """ECE before/after (class-balanced on all OOF, and as sampled on the validation images),
    reliability rows and ``<kind>.reliability.svg``."""
    w = balanced_weights(y)
    v = np.asarray(is_val, bool)
    block = {
        "method": method,
        "bins": n_bins,
        "data": "out-of-fold predictions (train + val); 'balanced' weights both classes equally "
        "(the 50/50 prior the probabilities are calibrated for); 'val' = the official validation "
        "images as sampled (26% normal)",
        "ece_before": {
            "oof_balanced": ece(p_before, y, n_bins, w),
            "val": ece(p_before[v], y[v], n_bins),
        },
        "ece_after": {
            "oof_balanced": ece(p_after, y, n_bins, w),
            "val": ece(p_after[v], y[v], n_bins),
        },
        "reliability_svg": f"{kind}.reliability.svg",
        "reliability_after_oof_balanced": reliability(p_after, y, n_bins, w),
    }
    svg = reliability_svg(
        {
            "before calibration": reliability(p_before, y, n_bins, w),
            "after calibration": block["reliability_after_oof_balanced"],
        },
        title=f"{kind}: reliability (OOF, balanced)",
    )
    (Path(directory) / f"{kind}.reliability.svg").write_text(svg)
    return block


def speed_block(model, images128: np.ndarray) -> dict:
    model.predict_proba_batch(images128[:8])
    t0 = time.perf_counter()
    model.predict_proba_batch(images128)
    batch_ms = (time.perf_counter() - t0) / images128.shape[0] * 1e3
    lat = []
    for i in range(60):
        t0 = time.perf_counter()
        model.predict(images128[i % images128.shape[0]])
        lat.append((time.perf_counter() - t0) * 1e3)
    return {
        "ms_per_image_batch": round(batch_ms, 4),
        "ms_single_p50": round(float(np.percentile(lat[10:], 50)), 3),
        "threads": 1,
        "note": "measured at training time on the training machine; see bench/diagnose.py",
    }


def load_model(kind: str, directory=None):
    """The saved model (SHA-256 verified), without going through ``api`` (no import cycle)."""
    from . import ensemble

    return ensemble.load(directory) if kind == "ensemble" else ensemble.load_component(kind, directory)


def _finish(kind, arrays, card, directory, log) -> dict:
    """Write the artifact, reload it (SHA-256 verified) and fill what needs the saved model."""
    directory = Path(directory or ARTIFACT_DIR)
    tmp = write_artifact(kind, arrays, card, "", directory)
    model = load_model(kind, directory)
    digest = write_artifact(kind, arrays, card, render_card(card, kind, directory), directory)
    if digest != tmp:
        raise RuntimeError(f"{kind}: digest changed between writes")
    log(f"{kind}: wrote {kind}.npz sha256={digest}")
    return dict(card, sha256=digest, _model=model)


def _val_in_sample(model, va) -> dict:
    grid = contract.medmnist_to_model_grid(va.images)
    s = model.proba_grid(grid)
    m = binary_metrics(va.labels, s, model.threshold)
    m["note"] = "the final model was fitted on train + val: these are IN-SAMPLE, not held-out"
    return m


def train_and_save_cnn(path, seed=None, directory=None, log=print, trained=None) -> dict:
    from . import cnn as mod
    from . import cnn_train

    directory = Path(directory or ARTIFACT_DIR)
    seed = cnn_train.DEFAULT_SEED if seed is None else seed
    tr, va, images, labels, is_val = _pooled(path)
    if trained is None:
        trained = cnn_train.train_cnn(images, labels, is_val, seed=seed, log=log)
    arrays, info = trained
    oof = info["oof"]
    if not np.array_equal(oof["label"], labels):
        raise RuntimeError("cnn: the out-of-fold labels do not match the data file")
    (directory / "cnn.oof.npz").write_bytes(
        npz_bytes({k: np.asarray(oof[k]) for k in ("logit", "fold", "label", "is_val")})
    )
    T = float(arrays["temperature"])
    p_raw = sigmoid(oof["logit"])
    p_cal = apply_temperature(oof["logit"], T)
    thr = float(info["threshold"])
    table = cv_table(labels, p_cal, oof["fold"], thr, is_val, seed=seed)
    table.update(
        scheme=CV_SCHEME,
        mean_auc_by_epoch=info["cv"]["mean_auc_by_epoch"],
        chosen_epochs=info["cv"]["chosen_epochs"],
    )
    card = {
        "name": "cnn",
        "model_id": mod.MODEL_ID,
        "version": mod.VERSION,
        "task": "pneumonia-vs-normal (chest X-ray), label 1 = pneumonia",
        "threshold": thr,
        "seed": seed,
        "training_data": _data_card(tr, va),
        "training_seconds": info["training_seconds"],
        "hyper_parameters": info["hyper_parameters"],
        "cv_oof": table,
        "validation": dict(
            table["val"], source="out-of-fold predictions on the 524 validation images (held out)"
        ),
        "calibration": calibration_block(
            "cnn", labels, is_val, p_raw, p_cal, f"temperature scaling, T = {T:.4f}", directory
        ),
        "environment": {"python": platform.python_version(), "numpy": np.__version__},
        "format": "npz wrapping an ONNX graph (opset 17); inference on ONNX Runtime",
    }
    out = _finish("cnn", arrays, card, directory, log)
    model = out.pop("_model")
    card["validation_final_model_in_sample"] = _val_in_sample(model, va)
    card["speed"] = speed_block(model, np.stack([contract.pipeline_preprocess(im) for im in va.images]))
    # regression reference: the raw logits of the first validation images, as exported
    card["reference"] = {
        "split": "val",
        "indices": list(range(8)),
        "logit": [float(x) for x in model.logit_grid(contract.medmnist_to_model_grid(va.images[:8]))],
    }
    digest = write_artifact("cnn", arrays, card, render_card(card, "cnn", directory), directory)
    return dict(card, sha256=digest)


def train_and_save_ensemble(path, seed=None, directory=None, log=print, d_classical=None) -> dict:
    from . import ensemble as mod

    directory = Path(directory or ARTIFACT_DIR)
    seed = 20240612 if seed is None else seed
    tr, va, images, labels, is_val = _pooled(path)
    t0 = time.time()
    with np.load(directory / "cnn.oof.npz") as z:
        oof = {k: z[k] for k in z.files}
    if not np.array_equal(oof["label"], labels):
        raise RuntimeError("ensemble: cnn.oof.npz does not belong to this data file")
    folds = oof["fold"]
    cls_model = load_model("classical", directory)
    cnn_model = load_model("cnn", directory)
    grid = contract.medmnist_to_model_grid(images)
    d_cls = (
        mod.classical_oof(grid, labels, folds, cls_model.card, seed, log=log)
        if d_classical is None
        else d_classical
    )
    z_cnn = oof["logit"].astype(np.float64)
    scores = np.c_[d_cls, z_cnn]

    # the three models (and a plain average) on the same out-of-fold scores
    a, b = cls_model._platt
    p_cls = sigmoid(a * d_cls + b)
    p_cnn = apply_temperature(z_cnn, cnn_model.temperature)
    p_avg = (p_cls + p_cnn) / 2
    p_stack = mod.nested_oof(scores, labels, folds)
    coef = mod.fit_stacker(scores, labels)
    thr = balanced_threshold(labels, p_stack)
    comparison = {}
    for name, p, t in (
        ("classical", p_cls, cls_model.threshold),
        ("cnn", p_cnn, cnn_model.threshold),
        ("average", p_avg, balanced_threshold(labels, p_avg)),
        ("ensemble", p_stack, thr),
    ):
        tab = cv_table(labels, p, folds, t, is_val, n_boot=0, seed=seed)
        comparison[name] = {
            "threshold": t,
            "mean": tab["mean"],
            "sd": tab["sd"],
            "pooled": {k: tab["pooled"][k] for k in ("auc", "acc", "sensitivity", "specificity")},
            "val": {k: tab["val"][k] for k in ("auc", "acc", "sensitivity", "specificity")},
            "balanced_accuracy_pooled": (tab["pooled"]["sensitivity"] + tab["pooled"]["specificity"]) / 2,
        }
        log(f"ensemble: CV {name}: {comparison[name]['mean']}")
    table = cv_table(labels, p_stack, folds, thr, is_val, seed=seed)
    table["scheme"] = CV_SCHEME + "; stacker fitted in a nested CV over the out-of-fold scores"
    arrays = {
        "stack_coef": coef,
        "classical_sha256": mod.sha_array(cls_model.sha256),
        "cnn_sha256": mod.sha_array(cnn_model.sha256),
    }
    card = {
        "name": "ensemble",
        "model_id": mod.MODEL_ID,
        "version": mod.VERSION,
        "task": "pneumonia-vs-normal (chest X-ray), label 1 = pneumonia",
        "threshold": thr,
        "seed": seed,
        "training_data": _data_card(tr, va),
        "training_seconds": round(time.time() - t0, 1),
        "hyper_parameters": {
            "combination": "logistic stacking: p = sigmoid(a * d_classical + b * logit_cnn + c), "
            "class-balanced, fitted on out-of-fold scores of both models (same folds)",
            "stack_coef_a_b_c": [float(x) for x in coef],
            "components": {
                "classical": {"model_id": cls_model.model_id, "sha256": cls_model.sha256},
                "cnn": {"model_id": cnn_model.model_id, "sha256": cnn_model.sha256},
            },
            "threshold_rule": "median of thresholds within 0.01 of the best balanced accuracy on the "
            "nested out-of-fold stacked probabilities (train + val)",
            "saliency": "the CNN's class activation map",
            "classical_oof_note": "the classical scores are out-of-fold refits of the committed recipe "
            "(same PCA size, C, augmentation) on the CNN's folds; the deployed classical model was fitted "
            "on the train split only",
        },
        "cv_oof": table,
        "cv_comparison": comparison,
        "validation": dict(
            table["val"], source="nested out-of-fold predictions on the 524 validation images (held out)"
        ),
        "calibration": calibration_block(
            "ensemble",
            labels,
            is_val,
            p_avg,
            p_stack,
            "logistic stacking (its own calibration); "
            "'before' = the plain average of the two calibrated probabilities",
            directory,
        ),
        "environment": {"python": platform.python_version(), "numpy": np.__version__},
    }
    write_artifact("ensemble", arrays, card, "", directory)
    ens = load_model("ensemble", directory)
    val128 = np.stack([contract.pipeline_preprocess(im) for im in va.images])
    card["validation_final_model_in_sample"] = _val_in_sample(ens, va)
    card["speed"] = speed_block(ens, val128)
    digest = write_artifact("ensemble", arrays, card, render_card(card, "ensemble", directory), directory)

    # the classical card gains the same CV table, calibration and speed (artifact unchanged)
    _update_classical_card(directory, cls_model, labels, is_val, folds, d_cls, p_cls, val128, seed)
    from .cards import rerender_all

    rerender_all(directory)
    log(f"ensemble: wrote ensemble.npz sha256={digest}")
    return dict(card, sha256=digest)


def _update_classical_card(directory, model, labels, is_val, folds, d_cls, p_cls, val128, seed):
    path = Path(directory) / "classical.json"
    card = json.loads(path.read_text())
    _, _, digest = read_artifact("classical", directory)
    table = cv_table(labels, p_cls, folds, model.threshold, is_val, seed=seed)
    table["scheme"] = (
        CV_SCHEME + "; out-of-fold refits of this recipe (its PCA size, C, augmentation), Platt of this "
        "artifact applied to their decision values"
    )
    card["cv_oof"] = table
    card["calibration"] = calibration_block(
        "classical",
        labels,
        is_val,
        sigmoid(d_cls),
        p_cls,
        "Platt scaling fitted on out-of-fold decision values (GroupKFold on train) at training; "
        "'before' = sigmoid of the raw SVM decision value",
        directory,
    )
    va_p = model.predict_proba_batch(val128)
    y_val = labels[np.asarray(is_val, bool)]
    card["calibration"]["ece_deployed_model_on_val"] = ece(va_p, y_val)
    card["speed"] = speed_block(model, val128)
    if card.get("sha256") != digest:
        raise RuntimeError("classical card/artifact mismatch")
    path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")


__all__ = ["train_and_save_cnn", "train_and_save_ensemble"]
