"""Ensemble of the classical model and the CNN: logistic stacking on out-of-fold scores.

``p = sigmoid(a · d_classical + b · logit_cnn + c)`` where ``d_classical`` is the SVM decision
value and ``logit_cnn`` the CNN's raw logit. (a, b, c) are fitted (class-balanced logistic
regression: a 50/50 prior, the same convention as the classical Platt scaling and the CNN's
temperature) on **out-of-fold** scores of both models from the same 5-fold stratified split of
train + val, so the stacker never sees a score of an image its model was trained on; the
stacker is itself evaluated by a second, nested cross-validation over those OOF scores. The
stacking is its own calibration.

The artifact ``ensemble.npz`` holds (a, b, c) and the SHA-256 of both component artifacts
(as ASCII bytes, so they are covered by the ensemble's own SHA-256); loading refuses
components whose bytes changed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import contract
from .calibration import sigmoid

NAME = "ensemble"
VERSION = "1.0.0"
MODEL_ID = f"pneumonia-ensemble-svm-cnn-{VERSION}"
COMPONENTS = ("classical", "cnn")


def load_component(kind: str, directory: Path | None = None):
    """A component model from its artifact (SHA-256 checked against its own card)."""
    from .artifacts import read_artifact

    if kind == "classical":
        from .classical import ClassicalModel as cls
    elif kind == "cnn":
        from .cnn import CNNModel as cls
    else:
        raise ValueError(f"{kind!r} is not a component of the ensemble")
    arrays, card, digest = read_artifact(kind, directory)
    return cls(arrays, card, digest)


def load(directory: Path | None = None) -> EnsembleModel:
    from .artifacts import read_artifact

    arrays, card, digest = read_artifact(NAME, directory)
    return EnsembleModel(arrays, card, digest, directory=directory)


def sha_array(hexdigest: str) -> np.ndarray:
    return np.frombuffer(hexdigest.encode("ascii"), dtype=np.uint8).copy()


class EnsembleModel:
    kind = NAME

    def __init__(self, arrays: dict, card: dict, sha256: str, directory: Path | None = None, components=None):
        self.card = card
        self.sha256 = sha256
        self.model_id = card["model_id"]
        self.version = card["version"]
        self.threshold = float(card["threshold"])
        self._coef = np.asarray(arrays["stack_coef"], dtype=np.float64)  # (a, b, c)
        parts = components or {k: load_component(k, directory) for k in COMPONENTS}
        for k in COMPONENTS:
            want = np.asarray(arrays[f"{k}_sha256"], dtype=np.uint8).tobytes().decode("ascii")
            if parts[k].sha256 != want:
                raise ValueError(
                    f"ensemble: the {k} artifact has SHA-256 {parts[k].sha256}, but the ensemble was "
                    f"fitted on {want}; retrain the ensemble"
                )
        self.classical = parts["classical"]
        self.cnn = parts["cnn"]

    def combine(self, d_classical: np.ndarray, logit_cnn: np.ndarray) -> np.ndarray:
        a, b, c = self._coef
        return sigmoid(a * np.asarray(d_classical, dtype=np.float64) + b * np.asarray(logit_cnn) + c)

    def proba_grid(self, grid28: np.ndarray) -> np.ndarray:
        return self.combine(self.classical.decision_function_grid(grid28), self.cnn.logit_grid(grid28))

    def features(self, grid28: np.ndarray) -> np.ndarray:
        """The classical model's PCA-space features (for the out-of-distribution detector)."""
        return self.classical.features(grid28)

    def predict_proba_batch(self, images) -> np.ndarray:
        return self.proba_grid(contract.images_to_model_grid(images))

    def predict_batch(self, images) -> list[tuple[str, float]]:
        p = self.predict_proba_batch(images)
        return [("pneumonia" if q >= self.threshold else "normal", float(q)) for q in p]

    def predict(self, image128) -> tuple[str, float]:
        grid = contract.to_model_grid(contract.check_image(image128))[None]
        q = float(self.proba_grid(grid)[0])
        return ("pneumonia" if q >= self.threshold else "normal", q)

    def saliency(self, image128) -> np.ndarray:
        """The CNN's class activation map (the part of the ensemble that has one)."""
        return self.cnn.saliency(image128)


# -- training (scikit-learn, imported lazily) ------------------------------------------


def fit_stacker(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n, 2) OOF scores → (a, b, c) by class-balanced logistic regression."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, class_weight="balanced", max_iter=2000)
    lr.fit(scores, np.asarray(labels).astype(int))
    return np.array([lr.coef_[0, 0], lr.coef_[0, 1], lr.intercept_[0]], dtype=np.float64)


def stack(coef, scores) -> np.ndarray:
    return sigmoid(scores @ coef[:2] + coef[2])


def nested_oof(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold stacked probabilities: the stacker of fold f is fitted on the other folds."""
    out = np.zeros(labels.size)
    for f in np.unique(folds):
        te = folds == f
        out[te] = stack(fit_stacker(scores[~te], labels[~te]), scores[te])
    return out


def classical_oof(
    grid28: np.ndarray, labels: np.ndarray, folds: np.ndarray, card: dict, seed: int, log=print
):
    """Out-of-fold SVM decision values of the classical recipe (the committed card's PCA size
    and C, same augmentation) on the given folds."""
    from .augment import augment
    from .classical import AUG_COPIES, _fit_svc
    from .features import features

    hp = card["hyper_parameters"]
    n_pca, C = int(hp["pca_components"]), float(hp["svm"]["C"])
    y = np.asarray(labels).astype(int)
    out = np.zeros(y.size)
    for f in np.unique(folds):
        tr = np.flatnonzero(folds != f)
        te = folds == f
        Xa, src = augment(grid28[tr], AUG_COPIES, seed + int(f))
        pipe = _fit_svc(features(Xa), y[tr][src], n_pca, C, seed)
        out[te] = pipe.decision_function(features(grid28[te]))
        log(f"ensemble: classical OOF fold {int(f) + 1} done")
    return out
