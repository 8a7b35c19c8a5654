"""Consent contracts, shaped after HL7 FHIR R4 `Consent` (one provision of type permit).

A contract is a series of versions sharing `series`; every change (including revocation)
adds a new version and marks the previous one not current, so history is never rewritten.
"Expired" is not stored: it is computed from the period (see `Consent.effective_status`).
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Action(models.TextChoices):
    VIEW = "view", "View scans and results"
    DOWNLOAD = "download", "Download original images"
    UPLOAD = "upload", "Upload new scans"


class Purpose(models.TextChoices):
    """HL7 v3 PurposeOfUse codes (http://terminology.hl7.org/CodeSystem/v3-ActReason)."""

    TREAT = "TREAT", "Treatment"
    ETREAT = "ETREAT", "Emergency treatment"
    HRESCH = "HRESCH", "Healthcare research"
    PATRQT = "PATRQT", "Requested by the patient"


class ScopeKind(models.TextChoices):
    ALL = "all", "All my scans"
    LISTED = "listed", "Only the scans I pick"
    FILTER = "filter", "Scans of a modality and/or date range"


class ConsentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Revoked"
    REJECTED = "rejected", "Rejected"


# the terms of a contract: who, what, which scans, why, when (carried into each new version)
TERM_FIELDS = [
    "grantee_user",
    "grantee_org",
    "actions",
    "purposes",
    "scope_kind",
    "scope_scan_ids",
    "scope_modality",
    "scope_from",
    "scope_to",
    "start",
    "end",
]


class Consent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    series = models.UUIDField(default=uuid.uuid4, db_index=True)
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consents_given"
    )
    grantee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consents_received",
    )
    grantee_org = models.ForeignKey(
        "portal.Organisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consents_received",
    )

    actions = models.JSONField(default=list)  # list of Action values
    purposes = models.JSONField(default=list)  # list of Purpose values
    scope_kind = models.CharField(max_length=8, choices=ScopeKind.choices, default=ScopeKind.ALL)
    scope_scan_ids = models.JSONField(default=list, blank=True)  # for LISTED: scan UUID strings
    scope_modality = models.CharField(max_length=16, blank=True)  # for FILTER, e.g. "CT"
    scope_from = models.DateField(null=True, blank=True)  # for FILTER: study date range
    scope_to = models.DateField(null=True, blank=True)

    start = models.DateTimeField(default=timezone.now)
    end = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ConsentStatus.choices, default=ConsentStatus.ACTIVE)
    policy_text = models.TextField()

    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    expiry_recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["series", "version"], name="consent_series_version_unique"),
            models.UniqueConstraint(
                fields=["series"], condition=models.Q(is_current=True), name="consent_one_current_version"
            ),
            models.CheckConstraint(
                condition=(models.Q(grantee_user__isnull=False) & models.Q(grantee_org__isnull=True))
                | (models.Q(grantee_user__isnull=True) & models.Q(grantee_org__isnull=False)),
                name="consent_exactly_one_grantee",
            ),
            models.CheckConstraint(
                condition=models.Q(end__isnull=True) | models.Q(end__gt=models.F("start")),
                name="consent_end_after_start",
            ),
        ]
        indexes = [models.Index(fields=["patient", "is_current", "status"])]

    def __str__(self) -> str:
        return f"Consent {self.series} v{self.version}"

    @property
    def grantee(self):
        return self.grantee_user or self.grantee_org

    def grantee_label(self) -> str:
        if self.grantee_org_id:
            return f"{self.grantee_org.name} (all its clinicians)"
        return self.grantee_user.display_name()

    def is_expired(self, at=None) -> bool:
        return self.end is not None and (at or timezone.now()) >= self.end

    def effective_status(self, at=None) -> str:
        """active / not-yet-active / expired / inactive (revoked) / rejected."""
        at = at or timezone.now()
        if self.status != ConsentStatus.ACTIVE:
            return self.status
        if self.is_expired(at):
            return "expired"
        if at < self.start:
            return "pending"
        return "active"
