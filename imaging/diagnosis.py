"""The diagnosis step: predict with the ACTIVE registered model.

`diagnose(image128)` asks the model registry (``imaging.model_registry.model_ensure_active``,
which registers the committed ``imaging.ml`` artifacts and activates the classical model
on first use) which model is active, loads that artifact once per process (its SHA-256 is
re-computed by ``imaging.ml`` and checked against its model card), checks that it is the
very artifact the registry holds (model id, version and SHA-256), and returns the label,
the probability and the model's id, version and SHA-256 for the Scan row and the ledger.

There is no silent fallback: if the active model cannot be loaded or does not match the
registry, `ModelUnavailable` is raised and the pipeline marks the scan failed with that
reason. The loading and prediction part (`load`, `predict_with`) has no Django import.

Before the model, the **applicability gate** (`assess`: ``imaging.ml.applicability``, DICOM
metadata then the learned out-of-distribution detector ``imaging.ml.ood``) decides whether the
image is a chest X-ray at all; if not, `predict_with` returns no label and no probability and
the reason "not applicable: the model is for chest X-rays (...)". The gate's artifact is
SHA-256 verified on load like the models', and a missing or altered gate is
`ModelUnavailable`, never a silent pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)


class ModelUnavailable(Exception):
    """The active model could not be loaded or is not the registered artifact."""


@dataclass(frozen=True)
class Prediction:
    label: str  # "" when not applicable
    probability: float | None  # None when not applicable
    model_id: str
    model_version: str
    model_sha256: str
    kind: str = ""
    applicable: bool = True
    reason: str = ""  # "" when applicable


class _MLModel:
    def __init__(self, model, kind: str) -> None:
        self._m = model
        self.kind = kind
        self.model_id = str(model.model_id)
        self.version = str(model.version)
        self.sha256 = str(model.sha256)

    def predict(self, image128: np.ndarray) -> tuple[str, float]:
        label, p = self._m.predict(image128)
        return str(label), float(p)

    @property
    def model(self):
        """The loaded ``imaging.ml`` model (for saliency)."""
        return self._m


@lru_cache(maxsize=4)
def load(kind: str) -> _MLModel:
    """The committed model of `kind` (cached per process; SHA-256 verified on load)."""
    try:
        from imaging.ml import load_model

        return _MLModel(load_model(kind), kind)
    except Exception as exc:  # noqa: BLE001 - any load problem is reported, never hidden
        raise ModelUnavailable(f"The {kind} diagnosis model could not be loaded ({exc}).") from exc


@lru_cache(maxsize=1)
def gate():
    """The applicability gate's OOD detector (cached per process; SHA-256 verified on load)."""
    try:
        from imaging.ml.ood import load_detector

        return load_detector()
    except Exception as exc:  # noqa: BLE001 - a missing or altered gate is reported, never skipped
        raise ModelUnavailable(f"The applicability gate could not be loaded ({exc}).") from exc


def assess(image128: np.ndarray, meta=None):
    """The gate's `Verdict` (``imaging.ml.applicability``) for a 128 x 128 matrix and its metadata."""
    from imaging.ml.applicability import assess as _assess

    return _assess(np.asarray(image128, dtype=np.float32), meta, detector=gate())


def predict_with(model: _MLModel, image128: np.ndarray, meta=None) -> Prediction:
    """The gate, then (only for a chest X-ray) the model's label and probability."""
    verdict = assess(image128, meta)
    if not verdict.applicable:
        return Prediction(
            label="",
            probability=None,
            model_id=model.model_id,
            model_version=model.version,
            model_sha256=model.sha256,
            kind=model.kind,
            applicable=False,
            reason=verdict.reason,
        )
    label, p = model.predict(np.asarray(image128, dtype=np.float32))
    return Prediction(
        label=label,
        probability=round(float(p), 6),
        model_id=model.model_id,
        model_version=model.version,
        model_sha256=model.sha256,
        kind=model.kind,
    )


ACTIVE_COLUMNS = ("task", "kind", "model_id", "version", "sha256")


def active_query():
    """The active pneumonia model's registry columns that `active_model` checks, as a
    ``values_list`` query (the model card, ~5 KB, is not read): a caller can send it in a
    database batch and pass the rows to `active_model`."""
    from imaging.model_registry import TASK
    from imaging.models import DiagnosisModel

    return DiagnosisModel.objects.filter(task=TASK, is_active=True).values_list(*ACTIVE_COLUMNS)[:1]


def active_model(rows: list | None = None):
    """(registry row, loaded model) of the active pneumonia model. `rows`: what
    `active_query` returned, if the caller read it already (None: read here)."""
    from imaging.model_registry import ModelRegistryError, model_ensure_active
    from imaging.models import DiagnosisModel

    try:
        if rows is None:
            rows = list(active_query())
        row = (
            DiagnosisModel(**dict(zip(ACTIVE_COLUMNS, rows[0], strict=True)))
            if rows
            else model_ensure_active()
        )
    except ModelRegistryError as exc:
        raise ModelUnavailable(str(exc)) from exc
    model = load(row.kind)
    if (model.model_id, model.version, model.sha256) != (row.model_id, row.version, row.sha256):
        raise ModelUnavailable(
            f"The loaded {row.kind} artifact ({model.model_id} v{model.version}, SHA-256 {model.sha256[:12]}…) "
            f"is not the registered one ({row.model_id} v{row.version}, {row.sha256[:12]}…)."
        )
    return row, model


def diagnose(image128: np.ndarray, meta=None) -> Prediction:
    _, model = active_model()
    return predict_with(model, image128, meta)
