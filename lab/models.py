"""Quantum-lab runs: one simulation job (a tool, its parameters, progress and result)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Tool(models.TextChoices):
    BB84 = "bb84", "BB84 key distribution"
    NEQR = "neqr", "NEQR image encryption"
    QHASH = "qhash", "Quantum-walk hash statistics"
    BELLAUTH = "bellauth", "Bell-state node authentication"
    GHOST = "ghost", "Ghost-imaging acquisition"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class LabRun(models.Model):
    """A simulation run. `result` holds the library's JSON numbers plus `comparison`, a list
    of {quantity, measured, ideal, target, within} rows; `figure_png` the matplotlib figure."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tool = models.CharField(max_length=16, choices=Tool.choices)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    figure_png = models.BinaryField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_runs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="lab_run_by_user")]

    def __str__(self) -> str:
        return f"{self.tool} run {self.id} ({self.status})"

    @property
    def uses_scan(self) -> bool:
        return self.params.get("source") == "scan"

    def _figure_context(self) -> str:
        return f"lab.figure:{self.pk}"

    def seal_figure(self, png: bytes) -> bytes:
        """A figure made from a patient's scan shows patient imagery: keep it encrypted at rest."""
        from core import keyvault

        return keyvault.seal(png, context=self._figure_context()) if self.uses_scan else png

    def figure_bytes(self) -> bytes:
        from core import keyvault

        raw = bytes(self.figure_png or b"")
        return keyvault.unseal(raw, context=self._figure_context()) if raw and self.uses_scan else raw

    @property
    def finished(self) -> bool:
        return self.status in (RunStatus.DONE, RunStatus.FAILED)
