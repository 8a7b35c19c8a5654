"""Scans and their stored (encrypted, content-addressed) objects."""

import uuid

from django.conf import settings
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

    pixel_sha256 = models.CharField(max_length=64, blank=True)  # of the 128x128 matrix (canonical layout)
    preprocess_version = models.CharField(max_length=16, blank=True)
    diagnosis_label = models.CharField(max_length=32, blank=True)
    diagnosis_probability = models.FloatField(null=True, blank=True)
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
