"""Per-reader key material: hybrid ML-KEM-768 + X25519 key pairs and the data keys wrapped for them.

A reader is a user, or the system itself (`reader=None`): the pipeline worker reads
originals with the system key. Private keys are sealed under the master key
(core.keyvault). A WrappedKey row is what lets a reader decrypt one stored object;
consent grant creates rows, revocation deletes them.
"""

from django.conf import settings
from django.db import models


class UserKeyPair(models.Model):
    # null user = the system key pair (exactly one)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="keypair"
    )
    is_system = models.BooleanField(default=False)
    public_key = models.BinaryField()
    sealed_private_key = models.BinaryField()
    fingerprint = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user"], name="one_keypair_per_user"),
            models.UniqueConstraint(
                fields=["is_system"], condition=models.Q(is_system=True), name="one_system_keypair"
            ),
            models.CheckConstraint(
                condition=models.Q(is_system=True, user__isnull=True)
                | models.Q(is_system=False, user__isnull=False),
                name="keypair_system_xor_user",
            ),
        ]

    def __str__(self) -> str:
        return f"keypair {self.fingerprint} of {self.user_id or 'system'}"


class WrappedKey(models.Model):
    object_id = models.UUIDField(db_index=True)  # the stored object (e.g. imaging.ScanObject.id)
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="wrapped_keys"
    )
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["object_id", "reader"], name="one_wrap_per_object_reader"),
            models.UniqueConstraint(
                fields=["object_id"],
                condition=models.Q(reader__isnull=True),
                name="one_system_wrap_per_object",
            ),
        ]

    def __str__(self) -> str:
        return f"wrap of {self.object_id} for {self.reader_id or 'system'}"
