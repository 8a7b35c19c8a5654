"""Scans and their stored (encrypted, content-addressed) objects."""

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models


class ScanStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PREPROCESSING = "preprocessing", "Preprocessing"
    DIAGNOSING = "diagnosing", "Diagnosing"
    ENCRYPTING = "encrypting", "Encrypting"
    STORING = "storing", "Storing"
    RECORDING = "recording", "Recording on the ledger"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


PIPELINE_ORDER = [
    ScanStatus.QUEUED,
    ScanStatus.PREPROCESSING,
    ScanStatus.DIAGNOSING,
    ScanStatus.ENCRYPTING,
    ScanStatus.STORING,
    ScanStatus.RECORDING,
    ScanStatus.DONE,
]


class Acquisition(models.TextChoices):
    DIRECT = "direct", "As uploaded"
    GHOST = "ghost-simulated", "Simulated ghost imaging (demo)"


class Study(models.Model):
    """A DICOM study of one patient (Study Instance UID): the index of its series, never a unit
    of consent. What a reader may see of it is the set of its instances (scans) that the policy
    allows. One row per (patient, UID): demo files shared between patients stay apart."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="studies")
    study_instance_uid = models.CharField(max_length=64)
    # the DICOM Study Date, else the day of the upload (the day consent scopes use)
    study_date = models.DateField(null=True, blank=True)
    # keyed hash of the Accession Number (core.keyvault.pseudonym), for exact QIDO matching:
    # the number itself is an identifier and is not stored
    accession_hash = models.CharField(max_length=64, blank=True, db_index=True)
    generated_uids = models.BooleanField(default=False)  # UIDs made by the portal (PNG/JPEG, old scans)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "study_instance_uid"], name="one_study_per_patient_uid"
            )
        ]
        indexes = [models.Index(fields=["study_instance_uid"])]

    def __str__(self) -> str:
        return f"study {self.study_instance_uid}"


class Series(models.Model):
    """A DICOM series (Series Instance UID) of a study; its instances are scans."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="series")
    series_instance_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(fields=["study", "series_instance_uid"], name="one_series_per_study_uid")
        ]
        indexes = [models.Index(fields=["series_instance_uid"])]

    def __str__(self) -> str:
        return f"series {self.series_instance_uid}"


class Scan(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="scans")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    status = models.CharField(max_length=16, choices=ScanStatus.choices, default=ScanStatus.QUEUED)
    failure_reason = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # deliveries of the pipeline task (poison-loop guard)
    # the delivery working on the scan (imaging.pipeline.leases): its token, the worker process that
    # holds it (a ScanWorker name) and when its message was last published or is next due
    claim = models.UUIDField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    source_format = models.CharField(max_length=8)  # dicom / png / jpeg
    original_size = models.PositiveBigIntegerField()
    original_sha256 = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    study_date = models.DateField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    frames = models.PositiveIntegerField(default=1)
    # the DICOM instance this scan is (imaging.hierarchy): a PNG/JPEG upload is a secondary
    # capture with UIDs made from the scan id. Several scans may carry one SOP Instance UID (the
    # same file uploaded twice through the web form); DICOMweb serves the newest one visible.
    series = models.ForeignKey(
        Series, on_delete=models.PROTECT, null=True, blank=True, related_name="instances"
    )
    sop_instance_uid = models.CharField(max_length=64, blank=True, db_index=True)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)  # of the stored original (DICOM)

    pixel_sha256 = models.CharField(max_length=64, blank=True)  # of the 128x128 matrix (canonical layout)
    preprocess_version = models.CharField(max_length=16, blank=True)
    diagnosis_label = models.CharField(max_length=32, blank=True)
    diagnosis_probability = models.FloatField(null=True, blank=True)
    # the applicability gate (imaging.ml.applicability): None before diagnosis; False = the
    # image is not a chest X-ray, so no label or probability, and the reason says why
    diagnosis_applicable = models.BooleanField(null=True, blank=True)
    diagnosis_reason = models.CharField(max_length=300, blank=True)
    model_id = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=32, blank=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    qwalk_hash = models.CharField(max_length=64, blank=True)  # secondary, simulated fingerprint
    ledger_event_id = models.UUIDField(null=True, blank=True)

    # optional demo: the upload re-acquired by SIMULATED computational ghost imaging
    acquisition = models.CharField(max_length=20, choices=Acquisition.choices, default=Acquisition.DIRECT)
    ghost_method = models.CharField(max_length=8, blank=True)  # gi / dgi / cs
    ghost_ratio = models.FloatField(null=True, blank=True)  # measurements / pixels
    ghost_measurements = models.PositiveIntegerField(null=True, blank=True)
    ghost_psnr = models.FloatField(null=True, blank=True)  # dB, vs the uploaded original at the ghost size
    ghost_ssim = models.FloatField(null=True, blank=True)
    # optional demo: derived images also pass through the SIMULATED NEQR image cipher
    # (imaging.neqr_layer) before AES-256-GCM, which alone provides the confidentiality
    neqr_layer = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["patient", "-created_at"])]

    def __str__(self) -> str:
        return f"scan {self.id}"

    @property
    def progress_percent(self) -> int:
        if self.status == ScanStatus.FAILED:
            return 100
        return round(100 * PIPELINE_ORDER.index(self.status) / (len(PIPELINE_ORDER) - 1))


class ScanWorker(models.Model):
    """A worker process that may hold scans (``Scan.claimed_by``): its heartbeat, written
    every few seconds by a thread of the process (`imaging.pipeline.leases`). A scan whose holder has
    not been seen for ``QMC_SCAN_HOLDER_TIMEOUT`` seconds is dispatched again."""

    name = models.CharField(max_length=200, primary_key=True)  # host:pid
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen:%H:%M:%S}"


class ObjectKind(models.TextChoices):
    ORIGINAL = "original", "Original upload"
    PREVIEW = "preview", "Preview PNG"
    MATRIX = "matrix", "Preprocessed 128x128 matrix"
    SALIENCY = "saliency", "Saliency map (128x128 PNG)"


class ScanObject(models.Model):
    """One encrypted blob of a scan. Its data key is wrapped per reader in portal.WrappedKey."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scan = models.ForeignKey(Scan, on_delete=models.PROTECT, related_name="blobs")
    kind = models.CharField(max_length=10, choices=ObjectKind.choices)
    version = models.PositiveIntegerField(default=1)
    cid = models.CharField(max_length=100)
    ciphertext_sha256 = models.CharField(max_length=64)
    plaintext_size = models.PositiveBigIntegerField()
    backend = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scan", "kind", "version"], name="one_object_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.scan_id}"


class StagedObject(models.Model):
    """Intent record of an encrypted derived object between `encrypting` and `storing`.

    The pipeline records the object's CID and ciphertext SHA-256 here (with its data key
    wrapped in the same transaction) *before* putting the ciphertext in the blob store. A
    redelivered task therefore knows which blob it may have written: if the blob is in the
    store it is used as is; if not (the worker died before the put), the object is
    encrypted again under the same wrapped key and this row is updated before the put. No
    blob is ever written that no row names. The row is deleted in the transaction that
    creates the ScanObject. (The ciphertext itself is not kept in the database: writing and
    re-reading a ~1 MB bytea per preview was the pipeline's largest overhead.)
    """

    id = models.UUIDField(primary_key=True, editable=False)  # the future ScanObject id
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="staged")
    kind = models.CharField(max_length=10, choices=ObjectKind.choices)
    version = models.PositiveIntegerField(default=1)
    cid = models.CharField(max_length=100)
    ciphertext_sha256 = models.CharField(max_length=64)
    plaintext_size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scan", "kind", "version"], name="one_staged_per_kind")
        ]

    def __str__(self) -> str:
        return f"staged {self.kind} of {self.scan_id}"


class ModelKind(models.TextChoices):
    CLASSICAL = "classical", "Classical (HOG + SVM)"
    QCNN = "qcnn", "Quantum convolutional network (simulated)"
    CNN = "cnn", "Convolutional network (ResNet-style)"
    ENSEMBLE = "ensemble", "Ensemble (classical + CNN, stacked)"


class DiagnosisModel(models.Model):
    """A registered diagnosis model: one committed artifact of ``imaging.ml``.

    At most one model per task is active (``one_active_model_per_task``, a unique partial
    index); `imaging.registry` keeps exactly one active by switching in one transaction and
    activating the classical model when a task has none. Activations are on the ledger
    (``model.registered``, id in ``ledger_event_id`` of the latest activation).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.CharField(max_length=32, default="pneumonia")
    model_id = models.CharField(max_length=64)
    version = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=ModelKind.choices)
    sha256 = models.CharField(max_length=64)  # of the artifact bytes (imaging/ml/artifacts/<kind>.npz)
    artifact = models.CharField(max_length=200)  # file name inside imaging/ml/artifacts/
    card_path = models.CharField(max_length=200)  # the Markdown model card, same directory
    card_text = models.TextField()  # the card's Markdown as registered
    metrics = models.JSONField(default=dict)  # validation metrics from the card (auc, acc, ci95, ...)
    threshold = models.FloatField(null=True, blank=True)
    is_active = models.BooleanField(default=False)
    registered_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    ledger_event_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["task", "kind", "-registered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["task"], condition=models.Q(is_active=True), name="one_active_model_per_task"
            ),
            models.UniqueConstraint(fields=["task", "model_id", "version"], name="one_row_per_model_version"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} v{self.version}{' (active)' if self.is_active else ''}"


# --- DIMSE (imaging.dimse): who may send, whose instances they are, and what waits for a patient


class DicomPeer(models.Model):
    """A DICOM application entity (a modality or PACS) of an organisation that may associate
    with the portal's SCP, known by its calling AE title and, when set, its host. An unknown
    caller is refused at association (A-ASSOCIATE-RJ). Its instances are stored by the
    organisation's DICOM node identity (a user with role ``dicom_node``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey("portal.Organisation", on_delete=models.PROTECT, related_name="+")
    ae_title = models.CharField(
        "AE title",
        max_length=16,
        unique=True,
        validators=[
            RegexValidator(
                r"^[\x21-\x5b\x5d-\x7e]([\x20-\x5b\x5d-\x7e]*[\x21-\x5b\x5d-\x7e])?$",
                "An AE title is 1-16 printable ASCII characters, without a backslash or surrounding spaces.",
            )
        ],
        help_text="The calling AE title the device sends (1-16 characters, no backslash).",
    )
    host = models.GenericIPAddressField(
        null=True, blank=True, help_text="If set, associations are accepted only from this address."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "DICOM peer"

    def __str__(self) -> str:
        return self.ae_title


class DicomPatientLink(models.Model):
    """A DICOM Patient ID, as one organisation's systems send it, linked to a portal patient.
    The ID itself is not stored: `patient_key` is a keyed HMAC of (organisation, Issuer of
    Patient ID, Patient ID) (imaging.dimse.matching)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey("portal.Organisation", on_delete=models.PROTECT, related_name="+")
    patient_key = models.CharField(max_length=64)
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "DICOM patient link"
        constraints = [
            models.UniqueConstraint(fields=["organisation", "patient_key"], name="one_link_per_dicom_patient")
        ]

    def __str__(self) -> str:
        return f"DICOM patient {self.patient_key[:8]}… of {self.organisation_id}"


class PendingInstance(models.Model):
    """A DICOM instance received over DIMSE that matched no patient: the reconciliation queue.

    Its bytes are an envelope in the blob store under a data key wrapped for the system key pair
    only (`wrapped_key`, bound to this row's id); no patient, no key wrap row, no scan. A
    clinician of the organisation attaches it to a patient (imaging.dimse.reconcile), which runs
    the upload path and deletes this row and its blob."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # the envelope's object id
    organisation = models.ForeignKey("portal.Organisation", on_delete=models.PROTECT, related_name="+")
    peer = models.ForeignKey(DicomPeer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # keyed HMAC of the instance's Patient ID (as DicomPatientLink); blank when it carries none
    patient_key = models.CharField(max_length=64, blank=True, db_index=True)
    sop_instance_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)  # of the received bytes (a resent instance is not queued twice)
    cid = models.CharField(max_length=100)
    ciphertext_sha256 = models.CharField(max_length=64)
    wrapped_key = models.BinaryField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "sop_instance_uid"], name="one_pending_per_org_instance"
            )
        ]

    def __str__(self) -> str:
        return f"pending instance {self.id}"
