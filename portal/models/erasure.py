"""A patient's request to be erased, the administrator's decision, and what was erased.

Erasure is by crypto-shredding (imaging/erasure.py): on approval every data key wrap of the
patient's scans is destroyed, the blobs deleted, the scan rows removed, the consents revoked
and the account tombstoned. What stays: this request, and one `ErasedScan` per scan with
only the ids the ledger's entries need (the scan id and its `scan.registered` event id), so
that a receipt or a URL of an erased scan can answer "erased" rather than "never existed".
"""

import uuid

from django.conf import settings
from django.db import models


class ErasureStatus(models.TextChoices):
    PENDING = "pending", "Waiting for an administrator"
    DONE = "done", "Erased"
    REJECTED = "rejected", "Refused (records retained)"
    CANCELLED = "cancelled", "Withdrawn by the patient"


class ErasureRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=ErasureStatus.choices, default=ErasureStatus.PENDING)
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # the administrator's reason for a refusal, e.g. a legal retention period (no patient data)
    note = models.CharField(max_length=300, blank=True)
    scans_erased = models.PositiveIntegerField(default=0)
    ledger_event_id = models.UUIDField(null=True, blank=True)  # the patient.erased event

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(status="pending"),
                name="one_pending_erasure_per_patient",
            )
        ]

    def __str__(self) -> str:
        return f"erasure {self.pk} ({self.status})"


class ErasedScan(models.Model):
    """The tombstone of an erased scan: ids only, nothing about the patient or the image."""

    scan_id = models.UUIDField(primary_key=True)
    erasure = models.ForeignKey(ErasureRequest, on_delete=models.PROTECT, related_name="scans")
    ledger_event_id = models.UUIDField(null=True, blank=True)  # its scan.registered entry
    erased_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"erased scan {self.scan_id}"
