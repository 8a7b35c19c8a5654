"""Ledger tables.

`Entry`, `TreeNode` and `Checkpoint` are append-only: the database rejects UPDATE and
DELETE on them with triggers (migration 0002; PostgreSQL rejects both, SQLite rejects
UPDATE — SQLite has no per-session switch and Django's test flush deletes rows). The
mutable state is `PendingEvent` (recorded, not yet signed), `Head` (size and compact range
of the tree, the row appenders lock) and `SigningKey.retired_at`.
"""

from django.db import models


class SigningKey(models.Model):
    ALGORITHMS = [("falcon-512", "Falcon-512"), ("ml-dsa-44", "ML-DSA-44"), ("ed25519", "Ed25519")]

    key_id = models.CharField(max_length=8, unique=True)  # C2SP signed-note key ID, hex
    name = models.CharField(max_length=200)  # key name = log origin
    algorithm = models.CharField(max_length=16, choices=ALGORITHMS)
    public_key = models.BinaryField()
    sealed_private_key = models.BinaryField()  # core.keyvault.seal(context="ledger.<alg>:<key_id>")
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.algorithm} {self.key_id}"


class PendingEvent(models.Model):
    """An event recorded inside the caller's transaction, waiting to be signed and appended."""

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=40)
    payload = models.TextField()  # canonical JSON
    fingerprints = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL means "none"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"pending {self.event_type} {self.event_id}"


class Entry(models.Model):
    index = models.BigIntegerField(primary_key=True)
    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=40, db_index=True)
    timestamp = models.CharField(max_length=32)  # exact signed text, UTC ISO 8601 with microseconds
    prev_hash = models.BinaryField()
    payload = models.TextField()  # canonical JSON
    # extra fingerprints (e.g. the quantum-walk hash), canonical JSON object; covered by the signature
    fingerprints = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL means "none"
    leaf_hash = models.BinaryField()
    key_id = models.CharField(max_length=8)
    # format 1 (NULL batch): this entry's own Falcon-512 signature over its leaf hash.
    # format 2: empty; the entry is covered by the Falcon-512 signature of its `Batch`
    # (first index `batch`) over the RFC 9162 root of the batch's leaves
    signature = models.BinaryField()
    batch = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["index"]

    def __str__(self) -> str:
        return f"#{self.index} {self.event_type}"


class Batch(models.Model):
    """The entries [first, first + size) appended in one transaction, signed at once:
    Falcon-512 over `chain.batch_message(first, size, root_hash)`, where `root_hash` is the
    RFC 9162 Merkle root of those entries' leaf hashes. Append-only (migration 0005)."""

    first = models.BigIntegerField(primary_key=True)
    size = models.IntegerField()
    root_hash = models.BinaryField()
    key_id = models.CharField(max_length=8)
    signature = models.BinaryField()

    class Meta:
        ordering = ["first"]

    def __str__(self) -> str:
        return f"batch {self.first}..{self.first + self.size - 1}"


class TreeNode(models.Model):
    """Hash of the perfect subtree (level, idx): leaves [idx << level, (idx + 1) << level)."""

    level = models.SmallIntegerField()
    idx = models.BigIntegerField()
    hash = models.BinaryField()
    leaf = models.BigIntegerField()  # the entry whose append completed this node

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "idx"], name="ledger_treenode_level_idx")]
        indexes = [models.Index(fields=["leaf", "level"], name="ledger_treenode_leaf")]

    def __str__(self) -> str:
        return f"node ({self.level}, {self.idx})"


class Checkpoint(models.Model):
    tree_size = models.BigIntegerField(db_index=True)
    root_hash = models.BinaryField()
    note = models.TextField()  # C2SP signed note (tlog-checkpoint body + signatures)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"checkpoint at size {self.tree_size}"


class Head(models.Model):
    """Single row (id=1). Appenders serialise on it with an UPDATE (a row lock)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    last_leaf_hash = models.BinaryField(default=bytes(32))
    compact = models.BinaryField(default=b"")  # hashes of merkle.root_nodes(size), concatenated
    updated_at = models.DateTimeField(auto_now=True)
    lock_count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"head at size {self.size}"


class EntryOpening(models.Model):
    """Private index of the v2 entries (never served by the public ledger API or pages).

    `subject` is the patient's pseudonym, so the portal can list a patient's own entries;
    `openings` are the salts and values behind the entry's public commitments, handed only
    to authorised readers in their receipts. Written in the same transaction (and database
    batch) as the entry's `PendingEvent`.
    """

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=40)
    subject = models.CharField(max_length=32, blank=True, db_index=True)  # patient pseudonym, "" if none
    openings = models.TextField()  # canonical JSON {field: {"salt": hex, "value": ...}}
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"opening of {self.event_type} {self.event_id}"
