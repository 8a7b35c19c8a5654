import uuid

from django.conf import settings
from django.db import models


class BreakGlass(models.Model):
    """Emergency access to one patient's scans without consent: time-limited, flagged, reviewed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="breakglass_used"
    )
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="breakglass_on"
    )
    reason = models.TextField()  # stays in the database; never on the ledger
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    # the auditor's finding when signing off: was the emergency real? ("" until reviewed)
    outcome = models.CharField(
        max_length=12, blank=True, choices=[("justified", "Justified"), ("unjustified", "Unjustified")]
    )
    ledger_event_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"break-glass {self.id}"


class AccessEvent(models.Model):
    """One decision of the policy decision point on patient data, as the patient sees it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_events"
    )
    scan_id = models.UUIDField(null=True, blank=True)
    action = models.CharField(max_length=32)
    purpose = models.CharField(max_length=8, blank=True)
    allowed = models.BooleanField()
    reason = models.CharField(max_length=64)
    consent = models.ForeignKey(
        "portal.Consent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    breakglass = models.ForeignKey(
        BreakGlass, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ledger_event_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.action} {'allowed' if self.allowed else 'denied'} at {self.at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    created_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=32)
    text = models.CharField(max_length=300)
    read = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text
