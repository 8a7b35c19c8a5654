import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class Organisation(models.Model):
    """A hospital or clinic; its clinicians can be granted access together."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    PATIENT = "patient", "Patient"
    CLINICIAN = "clinician", "Clinician"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Administrator"
    # a registered third-party system; its OAuth2 application acts as this user
    API_CLIENT = "api_client", "Third-party API client"
    # a clinician of a peer node (federation.RemoteClinician): no password, a public key only
    REMOTE_CLINICIAN = "remote_clinician", "Clinician at a peer node"
    # an organisation's modalities and PACS speaking DIMSE (imaging.dimse): no password, never
    # logs in; the organisation's consents cover it as they cover its clinicians
    DICOM_NODE = "dicom_node", "DICOM node of an organisation"


class User(AbstractUser):
    """Every person who logs in. Patients' ledger identity is a keyed pseudonym of `id`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PATIENT)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    # an IANA zone name ("Europe/London"); empty: settings.TIME_ZONE (portal.timezones)
    time_zone = models.CharField(max_length=64, blank=True)
    # for a clinician's patient search in an emergency (portal.breakglass_selectors)
    birth_date = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role="clinician") | models.Q(organisation__isnull=False),
                name="clinician_has_organisation",
            )
        ]

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_clinician(self) -> bool:
        return self.role == Role.CLINICIAN

    @property
    def is_auditor(self) -> bool:
        return self.role == Role.AUDITOR

    @property
    def is_api_client(self) -> bool:
        return self.role == Role.API_CLIENT

    @property
    def is_remote_clinician(self) -> bool:
        return self.role == Role.REMOTE_CLINICIAN

    @property
    def is_portal_admin(self) -> bool:
        return self.role == Role.ADMIN

    def display_name(self) -> str:
        if self.role == Role.REMOTE_CLINICIAN:
            remote = getattr(self, "remote_clinician", None)
            if remote is not None:
                return f"{remote.display_name} at {remote.hospital_name}"
        return self.get_full_name() or self.username


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran the heartbeat task; shown by /healthz."""

    hostname = models.CharField(max_length=200, primary_key=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} at {self.last_seen:%Y-%m-%d %H:%M:%S}"
