"""Binary metrics, bootstrap confidence intervals and threshold choice."""

from __future__ import annotations

import numpy as np


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    pred = s >= threshold
    pos, neg = y == 1, y == 0
    from sklearn.metrics import roc_auc_score  # imported here: 1.6 s that inference never needs

    auc = float(roc_auc_score(y, s)) if pos.any() and neg.any() else float("nan")
    return {
        "auc": auc,
        "acc": float(np.mean(pred == pos)),
        "sensitivity": float(pred[pos].mean()) if pos.any() else float("nan"),
        "specificity": float((~pred[neg]).mean()) if neg.any() else float("nan"),
        "n": int(y.shape[0]),
    }


def bootstrap_ci(labels, scores, threshold, n_boot: int = 2000, seed: int = 0) -> dict:
    """95% percentile bootstrap intervals (resampling images with replacement)."""
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    keys = ("auc", "acc", "sensitivity", "specificity")
    vals = {k: [] for k in keys}
    for _ in range(n_boot):
        idx = rng.integers(0, y.shape[0], y.shape[0])
        if y[idx].min() == y[idx].max():
            continue
        m = binary_metrics(y[idx], s[idx], threshold)
        for k in keys:
            vals[k].append(m[k])
    return {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in vals.items()}


def balanced_threshold(labels, scores, tolerance: float = 0.01) -> float:
    """Threshold on probabilities chosen on validation without over-tuning.

    Balanced accuracy (mean of sensitivity and specificity) does not depend on prevalence,
    which differs between train (~10% normal), validation (26%) and test.  Every candidate
    threshold within ``tolerance`` of the best balanced accuracy is kept and the *median* of
    that plateau is returned, not its sharpest edge.
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    cand = np.unique(np.concatenate([s, np.linspace(0.01, 0.99, 99)]))
    pos, neg = y == 1, y == 0
    sens = np.array([(s[pos] >= t).mean() for t in cand])
    spec = np.array([(s[neg] < t).mean() for t in cand])
    bacc = (sens + spec) / 2
    good = cand[bacc >= bacc.max() - tolerance]
    return float(np.median(good))


def cv_table(labels, scores, folds, threshold: float, is_val=None, n_boot: int = 2000, seed: int = 0) -> dict:
    """Cross-validation summary from out-of-fold scores.

    ``per_fold`` (AUC, ACC, sensitivity, specificity of each held-out fold), their ``mean`` and
    ``sd``, the ``pooled`` metrics over all out-of-fold scores with 95% bootstrap intervals, and,
    when ``is_val`` marks the official validation images, the same on those images (``val``).
    ``n_boot=0`` skips the intervals.
    """
    y = np.asarray(labels).astype(int).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    folds = np.asarray(folds).ravel()
    keys = ("auc", "acc", "sensitivity", "specificity")
    rows = []
    for f in np.unique(folds):
        m = folds == f
        r = binary_metrics(y[m], s[m], threshold)
        rows.append({"fold": int(f) + 1, **r})
    out = {
        "per_fold": rows,
        "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys},
        "sd": {k: float(np.std([r[k] for r in rows], ddof=1)) if len(rows) > 1 else 0.0 for k in keys},
    }
    pooled = binary_metrics(y, s, threshold)
    if n_boot:
        pooled["ci95"] = bootstrap_ci(y, s, threshold, n_boot=n_boot, seed=seed)
    out["pooled"] = pooled
    if is_val is not None:
        v = np.asarray(is_val, dtype=bool).ravel()
        val = binary_metrics(y[v], s[v], threshold)
        if n_boot:
            val["ci95"] = bootstrap_ci(y[v], s[v], threshold, n_boot=n_boot, seed=seed)
        out["val"] = val
    return out
