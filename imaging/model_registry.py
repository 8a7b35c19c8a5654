"""The diagnosis model registry: which committed `imaging.ml` artifact is registered, and
which one is active (`model_ensure_active`, `model_activate`).

The registry holds the committed artifacts of ``imaging.ml`` (classical, qcnn, cnn, ensemble).
They are registered LAZILY: the first diagnosis (or the first visit of the models page) on a
database without an active model for the task calls `model_register_builtin()`, which
registers every artifact (their SHA-256 re-computed from the bytes and checked against
the model cards) and activates ``DEFAULT_KIND``: the ensemble, the best model on
cross-validation (see its card). A database that already has an active model keeps it
(an administrator switches with `model_activate`). No data migration, because the
activation appends a ledger event, which needs the live ledger models and keys.
"""

from __future__ import annotations

import logging

from django.db import transaction

log = logging.getLogger(__name__)

TASK = "pneumonia"
DEFAULT_KIND = "ensemble"  # == imaging.ml.api.DEFAULT_KIND (tested)
_ALGORITHMS = {
    "classical": "hog-pca-svm-platt",
    "qcnn": "qcnn8-statevector-hybrid",
    "cnn": "resnet3-cnn-onnx-temperature",
    "ensemble": "svm-cnn-logistic-stacking",
}


class ModelRegistryError(Exception):
    """A committed artifact does not match what is registered (or cannot be read)."""


def _read_builtin(kind: str) -> tuple[dict, str, str]:
    """(card, sha256, markdown) of a committed artifact; its SHA-256 is verified."""
    from imaging.ml.artifacts import ARTIFACT_DIR, read_artifact

    try:
        _, card, digest = read_artifact(kind)
        markdown = (ARTIFACT_DIR / f"{kind}.md").read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise ModelRegistryError(f"The {kind} model artifact cannot be used: {exc}") from exc
    return card, digest, markdown


def model_register_builtin(*, task: str = TASK):
    """Register every committed model (idempotent) and activate ``DEFAULT_KIND`` when the
    task has no active model. Returns the registered rows."""
    from django.db import IntegrityError

    from imaging.ml.api import KINDS
    from imaging.models import DiagnosisModel

    rows = []
    for kind in KINDS:
        card, digest, markdown = _read_builtin(kind)
        val = card.get("validation") or {}
        defaults = {
            "kind": kind,
            "sha256": digest,
            "artifact": card.get("artifact", f"{kind}.npz"),
            "card_path": f"{kind}.md",
            "card_text": markdown,
            "threshold": card.get("threshold"),
            "metrics": {
                k: val[k] for k in ("auc", "acc", "sensitivity", "specificity", "n", "ci95") if k in val
            },
        }
        lookup = {"task": task, "model_id": str(card["model_id"]), "version": str(card["version"])}
        try:
            with transaction.atomic():
                row, _ = DiagnosisModel.objects.get_or_create(**lookup, defaults=defaults)
        except IntegrityError:  # registered concurrently by another process
            row = DiagnosisModel.objects.get(**lookup)
        if row.sha256 != digest:
            raise ModelRegistryError(
                f"The artifact of {row.model_id} v{row.version} has SHA-256 {digest}, but "
                f"{row.sha256} is registered: a changed model needs a new version."
            )
        rows.append(row)
    if not DiagnosisModel.objects.filter(task=task, is_active=True).exists():
        default = next(r for r in rows if r.kind == DEFAULT_KIND)
        _activate(actor=None, model=default, reason="default")
    return rows


def model_ensure_active(*, task: str = TASK):
    """The active model of `task`, registering the built-in models first if there is none."""
    from imaging.models import DiagnosisModel

    row = DiagnosisModel.objects.filter(task=task, is_active=True).first()
    if row is None:
        model_register_builtin(task=task)
        row = DiagnosisModel.objects.get(task=task, is_active=True)
    return row


def is_model_admin(user) -> bool:
    return bool(
        user is not None and user.is_authenticated and user.is_active and getattr(user, "role", "") == "admin"
    )


def model_activate(*, actor, model):
    """Make `model` the active model of its task (administrators only).

    One transaction: lock every model row of the task, re-verify the artifact's SHA-256,
    deactivate the old one, activate the new one and append ``model.registered`` to the
    ledger. Raises PermissionDenied for anyone but an administrator.
    """
    from django.core.exceptions import PermissionDenied

    if not is_model_admin(actor):
        raise PermissionDenied("Only an administrator can switch the active diagnosis model.")
    return _activate(actor=actor, model=model, reason="activated")


def _activate(*, actor, model, reason: str):
    from django.utils import timezone

    from core.keyvault import pseudonym
    from imaging.models import DiagnosisModel
    from ledger.services import record_event

    with transaction.atomic():
        rows = list(DiagnosisModel.objects.select_for_update().filter(task=model.task).order_by("pk"))
        target = next((r for r in rows if r.pk == model.pk), None)
        if target is None:
            raise ModelRegistryError("That model is not registered.")
        old = [r for r in rows if r.is_active and r.pk != target.pk]
        if target.is_active and not old:
            return target  # already active: nothing to record
        _, digest, _ = _read_builtin(target.kind)
        if digest != target.sha256:
            raise ModelRegistryError(
                f"The artifact of {target.model_id} no longer matches its registered SHA-256; not activated."
            )
        DiagnosisModel.objects.filter(pk__in=[r.pk for r in old]).update(is_active=False)
        payload = {
            "model_id": target.model_id.lower()[:48],
            "model_sha256": target.sha256,
            "version": target.version.lower(),
            "kind": target.kind,
            "algorithm": _ALGORITHMS.get(target.kind, target.kind),
            "format": "npz",
            "role": getattr(actor, "role", "system") if actor else "system",
            "reason": reason,
        }
        if actor is not None:
            payload["actor"] = pseudonym("user", actor.pk)
        for src, dst in (("auc", "auc"), ("acc", "accuracy")):
            if isinstance(target.metrics.get(src), int | float):
                payload[dst] = round(float(target.metrics[src]), 6)
        target.is_active = True
        target.activated_at = timezone.now()
        target.ledger_event_id = record_event(event_type="model.registered", payload=payload)
        target.save(update_fields=["is_active", "activated_at", "ledger_event_id"])
    log.info(
        "diagnosis model %s v%s activated for %s by %s",
        target.model_id,
        target.version,
        target.task,
        actor.pk if actor else "system",
    )
    return target
