"""Classical pneumonia classifier: per-image standardised pixels + HOG → scaler → PCA → RBF SVM.

Training (``train_classical``) uses scikit-learn; the fitted parameters are exported to a
pickle-free ``.npz`` and inference is plain numpy (``ClassicalModel``), which is both fast
and independent of the scikit-learn version.  ``tests`` check numpy == scikit-learn.
"""

from __future__ import annotations

import time

import numpy as np

from . import contract
from .augment import augment
from .features import features
from .metrics import balanced_threshold

NAME = "classical"
VERSION = "1.0.0"
MODEL_ID = f"pneumonia-classical-hogsvm-{VERSION}"
DEFAULT_SEED = 20240601
GRID = {"pca": (64, 128), "C": (1.0, 4.0)}
AUG_COPIES = 3


class ClassicalModel:
    kind = NAME

    def __init__(self, arrays: dict, card: dict, sha256: str):
        self.card = card
        self.sha256 = sha256
        self.model_id = card["model_id"]
        self.version = card["version"]
        self.threshold = float(card["threshold"])
        self._w = np.ascontiguousarray(arrays["proj_w"], dtype=np.float32)  # (F, k)
        self._b = arrays["proj_b"].astype(np.float32)  # (k,)
        self._sv = np.ascontiguousarray(arrays["support_vectors"], dtype=np.float32)  # (m, k)
        self._sv_sq = (self._sv.astype(np.float64) ** 2).sum(1).astype(np.float32)
        self._dual = arrays["dual_coef"].astype(np.float32)  # (m,)
        self._intercept = float(arrays["intercept"])
        self._gamma = float(arrays["gamma"])
        self._platt = arrays["platt"].astype(np.float64)  # (a, b): p = 1/(1+exp(-(a*d+b)))

    # -- scores ---------------------------------------------------------------
    def features(self, grid28: np.ndarray) -> np.ndarray:
        """PCA-space features of (n, 28, 28) model grids: (n, k) float32 (k = PCA components).

        The standardised 2,080 pixel + HOG features through this artifact's scaler + PCA; the
        space the SVM works in (the out-of-distribution detector can use it too)."""
        return features(np.asarray(grid28, dtype=np.float32)) @ self._w + self._b

    def decision_function_grid(self, grid28: np.ndarray) -> np.ndarray:
        z = self.features(grid28)
        d2 = (z * z).sum(1)[:, None] + self._sv_sq[None, :] - 2.0 * (z @ self._sv.T)
        k = np.exp(-self._gamma * np.maximum(d2, 0.0))
        return (k @ self._dual).astype(np.float64) + self._intercept

    def proba_grid(self, grid28: np.ndarray) -> np.ndarray:
        a, b = self._platt
        return 1.0 / (1.0 + np.exp(-(a * self.decision_function_grid(grid28) + b)))

    # -- public API (pipeline images) -----------------------------------------
    def predict_proba_batch(self, images) -> np.ndarray:
        """P(pneumonia) for a batch of 128×128 pipeline images (see ``contract``)."""
        return self.proba_grid(contract.images_to_model_grid(images))

    def predict_batch(self, images) -> list[tuple[str, float]]:
        p = self.predict_proba_batch(images)
        return [("pneumonia" if q >= self.threshold else "normal", float(q)) for q in p]

    def predict(self, image128) -> tuple[str, float]:
        grid = contract.to_model_grid(contract.check_image(image128))[None]
        q = float(self.proba_grid(grid)[0])
        return ("pneumonia" if q >= self.threshold else "normal", q)


def _fit_svc(F, y, n_pca, C, seed):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    pipe = make_pipeline(
        StandardScaler(),
        PCA(n_components=n_pca, random_state=seed, svd_solver="randomized"),
        SVC(C=C, kernel="rbf", gamma="scale", class_weight="balanced", cache_size=500),
    )
    pipe.fit(F, y)
    return pipe


def export_arrays(pipe, platt) -> dict:
    scaler, pca, svc = pipe[0], pipe[1], pipe[2]
    comps = pca.components_  # (k, F)
    w = (comps / scaler.scale_[None, :]).T  # (F, k)
    b = -(scaler.mean_ / scaler.scale_) @ comps.T - pca.mean_ @ comps.T
    return {
        "proj_w": w.astype(np.float32),
        "proj_b": b.astype(np.float32),
        "support_vectors": svc.support_vectors_.astype(np.float32),
        "dual_coef": svc.dual_coef_[0].astype(np.float32),
        "intercept": np.array(svc.intercept_[0], dtype=np.float64),
        "gamma": np.array(svc._gamma, dtype=np.float64),
        "platt": np.asarray(platt, dtype=np.float64),
    }


def train_classical(
    train_images,
    train_labels,
    val_images,
    val_labels,
    seed: int = DEFAULT_SEED,
    grid: dict | None = None,
    aug_copies: int = AUG_COPIES,
    cv_folds: int = 3,
    log=print,
) -> tuple[dict, dict]:
    """Fit the classical model.  Returns (arrays, training_info).

    * images go through the pipeline route (``contract.medmnist_to_model_grid``);
    * ``aug_copies`` augmented copies per training image (seeded);
    * hyper-parameters (PCA size, C) by GroupKFold cross-validation **on train only**
      (augmented copies stay in their source image's fold), scored by ROC AUC;
    * Platt scaling fitted on the out-of-fold decision values of the chosen setting with
      balanced class weights (probabilities for a 50/50 prior — the train split is ~10%
      normal, validation 26%, the test split ~37%);
    * decision threshold on the validation split by ``metrics.balanced_threshold``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    grid = grid or GRID
    t0 = time.time()
    X = contract.medmnist_to_model_grid(train_images)
    y = np.asarray(train_labels).astype(int)
    Xa, src = augment(X, aug_copies, seed)
    ya = y[src]
    F = features(Xa)
    log(
        f"classical: {F.shape[0]} training rows ({X.shape[0]} images x {aug_copies + 1}), {F.shape[1]} features"
    )

    # GroupKFold is deterministic; shuffle the group ids with the seed for a seeded split.
    perm = np.random.default_rng(seed).permutation(X.shape[0])
    groups = perm[src]
    folds = list(GroupKFold(n_splits=cv_folds).split(F, ya, groups))
    orig_rows = np.arange(F.shape[0]) < X.shape[0]
    results = []
    for n_pca in grid["pca"]:
        for C in grid["C"]:
            oof = np.zeros(F.shape[0])
            for tr, te in folds:
                pipe = _fit_svc(F[tr], ya[tr], n_pca, C, seed)
                oof[te] = pipe.decision_function(F[te])
            auc = roc_auc_score(ya[orig_rows], oof[orig_rows])
            results.append({"pca": n_pca, "C": C, "cv_auc": float(auc), "oof": oof})
            log(f"classical: cv pca={n_pca} C={C} auc={auc:.4f} ({time.time() - t0:.0f}s)")
    best = max(results, key=lambda r: r["cv_auc"])
    platt_lr = LogisticRegression(C=1e4, class_weight="balanced", max_iter=1000)
    platt_lr.fit(best["oof"][orig_rows, None], ya[orig_rows])
    platt = (float(platt_lr.coef_[0, 0]), float(platt_lr.intercept_[0]))

    pipe = _fit_svc(F, ya, best["pca"], best["C"], seed)
    arrays = export_arrays(pipe, platt)
    # threshold on validation, with the exported numpy model
    tmp = ClassicalModel(arrays, {"model_id": MODEL_ID, "version": VERSION, "threshold": 0.5}, "")
    pv = tmp.proba_grid(contract.medmnist_to_model_grid(val_images))
    threshold = balanced_threshold(val_labels, pv)
    info = {
        "seed": seed,
        "hyper_parameters": {
            "features": "per-image standardised 28x28 pixels (784) + HOG 9 bins, 4x4 cells, 2x2 blocks, L2-Hys (1296)",
            "scaler": "StandardScaler",
            "pca_components": best["pca"],
            "svm": {
                "kernel": "rbf",
                "C": best["C"],
                "gamma": float(pipe[2]._gamma),
                "gamma_rule": "scale",
                "class_weight": "balanced",
                "n_support_vectors": int(pipe[2].support_vectors_.shape[0]),
            },
            "augmentation": f"{aug_copies} copies/image: rotation +-10 deg, shift +-2 px, zoom 0.92-1.08, "
            "gamma 0.8-1.25, contrast 0.85-1.15, brightness +-0.07",
            "calibration": "Platt (sigmoid) on out-of-fold CV decision values, balanced class weights",
            "platt_a_b": list(platt),
            "threshold_rule": "median of thresholds within 0.01 of the best validation balanced accuracy",
        },
        "cv": {
            "folds": cv_folds,
            "scheme": "GroupKFold on train (augmented copies grouped with source)",
            "grid": [{k: r[k] for k in ("pca", "C", "cv_auc")} for r in results],
        },
        "threshold": threshold,
        "training_seconds": round(time.time() - t0, 1),
    }
    return arrays, info
