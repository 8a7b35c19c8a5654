"""The diagnosis step's view of the model registry (pure module, no Django).

`active_model()` returns the model the pipeline uses: the committed ``imaging.ml``
classical model when that package and its artifact load (the artifact's SHA-256 is
verified by ``imaging.ml`` against its model card), otherwise a clearly labelled
**baseline** that is not a diagnostic model at all: ``baseline-mean-intensity`` scores
the mean intensity of the 128 x 128 image. Its id says so everywhere it is shown.

``QMC_DIAGNOSIS_MODEL`` (environment) chooses ``classical`` (default), ``qcnn`` or
``baseline``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)

BASELINE_ID = "baseline-mean-intensity"
BASELINE_VERSION = "0"
# the baseline's "weights" are its rule; its hash is of this text so it is stable and checkable
BASELINE_RULE = b"baseline-mean-intensity v0: p = mean(image128); label = pneumonia if p >= 0.5 else normal"


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float
    model_id: str
    model_version: str
    model_sha256: str


class _Baseline:
    model_id = BASELINE_ID
    version = BASELINE_VERSION
    sha256 = hashlib.sha256(BASELINE_RULE).hexdigest()

    def predict(self, image128: np.ndarray) -> tuple[str, float]:
        p = float(np.clip(np.mean(image128), 0.0, 1.0))
        return ("pneumonia" if p >= 0.5 else "normal"), p


class _MLModel:
    def __init__(self, model) -> None:
        self._m = model
        self.model_id = str(model.model_id)
        self.version = str(model.version)
        self.sha256 = str(model.sha256)

    def predict(self, image128: np.ndarray) -> tuple[str, float]:
        label, p = self._m.predict(image128)
        return str(label), float(p)


@lru_cache(maxsize=4)
def active_model(kind: str | None = None):
    kind = kind or os.environ.get("QMC_DIAGNOSIS_MODEL", "classical")
    if kind != "baseline":
        try:
            from imaging.ml import load_model

            return _MLModel(load_model(kind))
        except Exception:  # noqa: BLE001 - missing package/artifact: fall back, loudly
            log.warning("diagnosis: model %r unavailable, using %s", kind, BASELINE_ID, exc_info=True)
    return _Baseline()


def diagnose(image128: np.ndarray) -> Prediction:
    model = active_model()
    label, p = model.predict(np.asarray(image128, dtype=np.float32))
    return Prediction(
        label=label,
        probability=round(float(p), 6),
        model_id=model.model_id,
        model_version=model.version,
        model_sha256=model.sha256,
    )
