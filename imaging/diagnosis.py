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
    label: str
    probability: float
    model_id: str
    model_version: str
    model_sha256: str
    kind: str = ""


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


@lru_cache(maxsize=4)
def load(kind: str) -> _MLModel:
    """The committed model of `kind` (cached per process; SHA-256 verified on load)."""
    try:
        from imaging.ml import load_model

        return _MLModel(load_model(kind), kind)
    except Exception as exc:  # noqa: BLE001 - any load problem is reported, never hidden
        raise ModelUnavailable(f"The {kind} diagnosis model could not be loaded ({exc}).") from exc


def predict_with(model: _MLModel, image128: np.ndarray) -> Prediction:
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


def diagnose(image128: np.ndarray) -> Prediction:
    _, model = active_model()
    return predict_with(model, image128)
