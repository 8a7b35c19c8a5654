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
