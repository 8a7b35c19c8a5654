"""The hospital network: peers, this node's witness keys, what it cosigned for other logs, the
cosignatures its own checkpoints collected, what it saw of its peers, and evidence of a lie.

Roles (c2sp.org/tlog-witness): a peer with role `log` is a log this node witnesses; `witness`
is a node that witnesses this node's log; `both` is both. Nothing is trusted on first use: a
peer and its keys exist only once an administrator added them.
"""

from django.conf import settings
from django.db import models


class Peer(models.Model):
    ROLE_LOG = "log"
    ROLE_WITNESS = "witness"
    ROLE_BOTH = "both"
    ROLES = [
        (ROLE_LOG, "log (this node witnesses it)"),
        (ROLE_WITNESS, "witness (it witnesses this node's log)"),
        (ROLE_BOTH, "both"),
    ]

    origin = models.CharField(max_length=255, unique=True)  # its log's checkpoint origin line
    name = models.CharField(max_length=200, blank=True)  # display name (from its node card)
    url = models.URLField(blank=True)  # base URL of its portal; "" when unreachable from here
    role = models.CharField(max_length=8, choices=ROLES, default=ROLE_BOTH)
    trusted = models.BooleanField(default=True)
    untrusted_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["origin"]

    def __str__(self) -> str:
        return self.name or self.origin

    @property
    def is_log(self) -> bool:
        return self.role in (self.ROLE_LOG, self.ROLE_BOTH)

    @property
    def is_witness(self) -> bool:
        return self.role in (self.ROLE_WITNESS, self.ROLE_BOTH)


class PeerKey(models.Model):
    """A verifier key of a peer, in C2SP vkey form: `log` keys sign its checkpoints, `witness`
    keys sign its cosignatures of other logs."""

    PURPOSES = [("log", "log signature"), ("witness", "cosignature")]

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="keys")
    purpose = models.CharField(max_length=8, choices=PURPOSES)
    vkey = models.TextField()
    name = models.CharField(max_length=255)  # key name (the log origin or the witness name)
    key_id = models.CharField(max_length=8)
    algorithm = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["peer", "vkey"], name="federation_peerkey_unique")]

    def __str__(self) -> str:
        return f"{self.purpose} key {self.name}+{self.key_id}"


class WitnessKey(models.Model):
    """This node's own cosigning keys (Ed25519 cosignature/v1 and ML-DSA-44)."""

    name = models.CharField(max_length=255)  # the witness name its cosignature lines carry
    algorithm = models.CharField(max_length=32)
    key_id = models.CharField(max_length=8, unique=True)
    public_key = models.BinaryField()
    sealed_private_key = models.BinaryField()  # core.keyvault.seal(context="federation.<alg>:<key_id>")
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"witness {self.algorithm} {self.key_id}"


class WitnessedLog(models.Model):
    """Witness side: the newest checkpoint this node cosigned for a peer's log. add-checkpoint
    locks this row, so two concurrent calls cannot both advance it."""

    peer = models.OneToOneField(Peer, on_delete=models.CASCADE, related_name="witnessed")
    size = models.BigIntegerField(default=0)
    root_hash = models.BinaryField(default=b"")  # empty until the first cosignature
    checkpoint = models.TextField(blank=True)  # the signed note we cosigned last
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"witnessed {self.peer} at {self.size}"


class WitnessPush(models.Model):
    """Log side: per witness peer, the size of this node's log it has cosigned (its view of us)
    and the state of the last push."""

    peer = models.OneToOneField(Peer, on_delete=models.CASCADE, related_name="push")
    size = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"push to {self.peer} at {self.size}"


class Cosignature(models.Model):
    """Log side: a verified cosignature line a witness returned for one of our checkpoints."""

    checkpoint = models.ForeignKey("ledger.Checkpoint", on_delete=models.PROTECT, related_name="+")
    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="cosignatures")
    key_id = models.CharField(max_length=8)
    algorithm = models.CharField(max_length=32)
    timestamp = models.BigIntegerField(null=True, blank=True)
    line = models.TextField()  # "— <witness name> <base64>\n"
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["checkpoint", "peer", "key_id"], name="federation_cosig_unique")
        ]

    def __str__(self) -> str:
        return f"cosignature by {self.peer} on checkpoint {self.checkpoint_id}"


class WitnessedCheckpoint(models.Model):
    """Log side: one of our checkpoints whose cosignatures meet the witness policy's quorum;
    `note` is the checkpoint with every cosignature line appended."""

    checkpoint = models.OneToOneField("ledger.Checkpoint", on_delete=models.PROTECT, related_name="+")
    tree_size = models.BigIntegerField(db_index=True)
    note = models.TextField()
    witnessed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tree_size"]

    def __str__(self) -> str:
        return f"witnessed checkpoint at size {self.tree_size}"


class SeenCheckpoint(models.Model):
    """Monitor side: a validly signed checkpoint of a peer's log, as fetched from the peer, as
    another witness gossiped it, or as pushed to our witness endpoint."""

    SOURCES = [
        ("fetched", "fetched from the log"),
        ("gossip", "gossiped by a peer"),
        ("pushed", "add-checkpoint"),
    ]

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="seen")
    tree_size = models.BigIntegerField()
    root_hash = models.BinaryField()
    note = models.TextField()
    source = models.CharField(max_length=8, choices=SOURCES)
    via = models.CharField(max_length=255, blank=True)  # the gossiping peer's origin, if any
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["peer", "tree_size"]
        constraints = [
            models.UniqueConstraint(fields=["peer", "tree_size", "root_hash"], name="federation_seen_unique")
        ]

    def __str__(self) -> str:
        return f"{self.peer} at {self.tree_size}"


class Evidence(models.Model):
    """Two validly signed checkpoints of one log that cannot both be true (ledger.equivocation)."""

    KINDS = [
        ("same-size", "same size, different roots"),
        ("inconsistent", "no consistency between them"),
        ("rollback", "a smaller tree after a larger one"),
    ]

    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="evidence")
    kind = models.CharField(max_length=16, choices=KINDS)
    first_note = models.TextField()
    second_note = models.TextField()
    proof = models.TextField(blank=True)  # base64 hashes, one per line: the proof that failed
    detected_via = models.CharField(max_length=16)  # "add-checkpoint", "monitor", "gossip"
    ledger_event_id = models.UUIDField(null=True, blank=True)  # the `federation.equivocation` entry
    detected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-detected_at"]

    def __str__(self) -> str:
        return f"{self.kind} evidence against {self.peer}"


class QuantumCheck(models.Model):
    """One run of the simulated quantum layer with a peer (`federation.simulations`): Bell-state
    node authentication and BB84 key distribution, each without and with a simulated
    eavesdropper. Detection statistics only, never key material. A simulation: no trust
    decision rests on it (the signatures and ML-KEM carry the security)."""

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="quantum_checks")
    seed = models.BigIntegerField()
    results = models.JSONField(default=dict)
    ran_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ran_at", "-id"]

    def __str__(self) -> str:
        return f"simulated quantum checks with {self.peer} at {self.ran_at:%Y-%m-%d %H:%M}"


class NodeKey(models.Model):
    """An Ed25519 node key: it signs node-to-node requests (HTTP Message Signatures, RFC 9421).
    `peer` null: this node's own key (private half sealed with the master key), published in
    its node card. `peer` set: a peer's key, learned only from that peer's node card verified
    with the log keys trusted for it; no private half."""

    peer = models.ForeignKey(Peer, null=True, blank=True, on_delete=models.CASCADE, related_name="node_keys")
    key_id = models.CharField(max_length=64)  # the RFC 9421 `keyid`: base64url SHA-256 of the key
    public_key = models.BinaryField()
    sealed_private_key = models.BinaryField(default=b"", blank=True)  # empty for a peer's key
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["peer", "key_id"], name="federation_nodekey_peer_unique"),
            models.UniqueConstraint(
                fields=["key_id"], condition=models.Q(peer__isnull=True), name="federation_nodekey_own_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"node key {self.key_id} of {self.peer_id or 'this node'}"


class NodeNonce(models.Model):
    """A signed request's nonce, kept (at least ten minutes) so a replay is refused."""

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=128)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["peer", "nonce"], name="federation_nonce_unique")]

    def __str__(self) -> str:
        return f"nonce from {self.peer_id} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class NodeAuthRefusal(models.Model):
    """A node-to-node request refused by `federation.nodeauth.verify`. No patient data."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    peer = models.ForeignKey(Peer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    key_id = models.CharField(max_length=64, blank=True)
    clinician_id = models.CharField(max_length=64, blank=True)  # the x-qmc-clinician header, as sent
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    status = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=100)
    detail = models.CharField(max_length=300)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"refused {self.method} {self.path}: {self.title}"


class RemoteClinician(models.Model):
    """A clinician of a peer node, from its signed clinician directory, as a shadow user here
    (role `remote_clinician`, no usable password, a public key only): consent, policy and key
    wraps treat it like a local clinician. Inactive once it left the directory."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="remote_clinician"
    )
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="clinicians")
    remote_id = models.UUIDField()  # the clinician's user id at the peer
    display_name = models.CharField(max_length=200)
    organisation = models.CharField(max_length=200, blank=True)  # its organisation at the peer
    fingerprint = models.CharField(max_length=32)  # of its hybrid public key
    directory_version = models.BigIntegerField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["peer", "display_name"]
        constraints = [
            models.UniqueConstraint(fields=["peer", "remote_id"], name="federation_remoteclinician_unique")
        ]

    def __str__(self) -> str:
        return f"{self.display_name} at {self.hospital_name}"

    @property
    def hospital_name(self) -> str:
        return self.organisation or str(self.peer)
