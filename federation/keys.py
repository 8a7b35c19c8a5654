"""This node's keys as the network sees them: its witness keys (Ed25519 `cosignature/v1` and
ML-DSA-44, generated on first use, private halves sealed with the master key) and the log's
keys (`ledger.services.ensure_keys`), in C2SP vkey form."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from django.db import transaction

from federation.models import NodeKey, WitnessKey
from ledger import note
from ledger import services as ledger_services
from ledger.models import SigningKey

# the cosignature types a witness signs with (c2sp.org/tlog-cosignature), Ed25519 first:
# the public witness network expects it
WITNESS_ALGORITHMS = (note.ALG_COSIG_V1, note.ALG_MLDSA)
# the log's signature types, in the order its checkpoints carry them
LOG_ALGORITHMS = (note.ALG_ED25519, note.ALG_MLDSA, note.ALG_FALCON)

_signer_cache: dict[str, note.Signer] = {}
_node_key_cache: dict[str, ed25519.Ed25519PrivateKey] = {}


def witness_name() -> str:
    return str(settings.FEDERATION_WITNESS_NAME)


def _context(algorithm: str, key_id: str) -> str:
    return f"federation.{algorithm}:{key_id}"


def _active_witness_keys() -> dict[str, WitnessKey]:
    out: dict[str, WitnessKey] = {}
    for key in WitnessKey.objects.filter(
        algorithm__in=WITNESS_ALGORITHMS, retired_at__isnull=True, name=witness_name()
    ).order_by("-id"):
        out.setdefault(key.algorithm, key)  # the newest active key of each algorithm
    return out


def _new_witness_key(algorithm: str) -> WitnessKey:
    from core.keyvault import seal

    for _ in range(5):
        pk, sk = note.generate(algorithm)
        kid = note.key_id_hex(witness_name(), algorithm, pk)
        if not WitnessKey.objects.filter(key_id=kid).exists():
            return WitnessKey.objects.create(
                name=witness_name(),
                algorithm=algorithm,
                key_id=kid,
                public_key=pk,
                sealed_private_key=seal(sk, context=_context(algorithm, kid)),
            )
    raise RuntimeError("could not find an unused witness key id")


def ensure_witness_keys() -> dict[str, WitnessKey]:
    """The active witness key of each algorithm, generated on first use.

    Generation runs under the ledger's head lock, so two processes starting at once agree on
    one key per algorithm (a witness whose key changed under a peer would look forged)."""
    keys = _active_witness_keys()
    if len(keys) == len(WITNESS_ALGORITHMS):
        return keys
    with transaction.atomic():
        ledger_services.lock_head()
        keys = _active_witness_keys()
        for alg in WITNESS_ALGORITHMS:
            if alg not in keys:
                keys[alg] = _new_witness_key(alg)
    return keys


def ensure_log_keys() -> dict[str, SigningKey]:
    """The log's active signing key of each type; made by `ledger.services.ensure_keys` (under
    the ledger's head lock) only when one is missing."""
    keys: dict[str, SigningKey] = {}
    for key in SigningKey.objects.filter(
        algorithm__in=LOG_ALGORITHMS, retired_at__isnull=True, name=ledger_services.origin()
    ).order_by("-id"):
        keys.setdefault(key.algorithm, key)
    if len(keys) == len(LOG_ALGORITHMS):
        return keys
    with transaction.atomic():
        ledger_services.lock_head()
        return ledger_services.ensure_keys()


def _signer(key: WitnessKey) -> note.Signer:
    s = _signer_cache.get(key.key_id)
    if s is None:
        from core.keyvault import unseal

        sk = unseal(bytes(key.sealed_private_key), context=_context(key.algorithm, key.key_id))
        s = note.Signer(key.name, key.algorithm, bytes(key.public_key), sk)
        _signer_cache[key.key_id] = s
    return s


def witness_signers() -> list[note.Signer]:
    """This node's cosigners, Ed25519 `cosignature/v1` first."""
    keys = ensure_witness_keys()
    return [_signer(keys[alg]) for alg in WITNESS_ALGORITHMS]


def witness_verifiers() -> list[note.Verifier]:
    """Every witness key this node has had (retired ones still verify old cosignatures)."""
    return [
        note.Verifier(k.name, k.algorithm, bytes(k.public_key)) for k in WitnessKey.objects.order_by("id")
    ]


def log_signers(algorithms: tuple[str, ...] = (note.ALG_ED25519, note.ALG_FALCON)) -> list[note.Signer]:
    """The log's signers of the given types (the node card is signed by Ed25519 and Falcon:
    ML-DSA-44 here only signs checkpoints)."""
    keys = ensure_log_keys()
    return [ledger_services.signer_for(keys[alg]) for alg in algorithms]


def show_keys() -> dict[str, Any]:
    """`{"origin", "log": [vkey, ...], "witness": [vkey, ...]}`: what a peer needs to add this
    node (`federation add-peer --origin ORIGIN --vkey ...`)."""
    log_keys = ensure_log_keys()
    witness_keys = ensure_witness_keys()
    return {
        "origin": ledger_services.origin(),
        "log": [
            note.vkey(log_keys[alg].name, alg, bytes(log_keys[alg].public_key))
            for alg in LOG_ALGORITHMS
            if alg in log_keys
        ],
        "witness": [
            note.vkey(witness_keys[alg].name, alg, bytes(witness_keys[alg].public_key))
            for alg in WITNESS_ALGORITHMS
        ],
    }


# --- the node key: signs this node's requests to its peers (federation.nodeauth) ---------------


def node_key_id(public_key: bytes) -> str:
    """The RFC 9421 `keyid` of an Ed25519 node key: base64url SHA-256 of its raw public key."""
    return base64.urlsafe_b64encode(hashlib.sha256(public_key).digest()).decode().rstrip("=")


def _node_key_context(key_id: str) -> str:
    return f"federation.node-key:{key_id}"


def _active_node_key() -> NodeKey | None:
    return NodeKey.objects.filter(peer__isnull=True, retired_at__isnull=True).order_by("-id").first()


def ensure_node_key() -> NodeKey:
    """This node's active node key, generated on first use (under the ledger's head lock, so
    two processes starting at once agree on one key)."""
    key = _active_node_key()
    if key is not None:
        return key
    from core.keyvault import seal

    with transaction.atomic():
        ledger_services.lock_head()
        key = _active_node_key()
        if key is None:
            private = ed25519.Ed25519PrivateKey.generate()
            public = private.public_key().public_bytes_raw()
            kid = node_key_id(public)
            key = NodeKey.objects.create(
                key_id=kid,
                public_key=public,
                sealed_private_key=seal(private.private_bytes_raw(), context=_node_key_context(kid)),
            )
    return key


def node_signer() -> tuple[str, ed25519.Ed25519PrivateKey]:
    """(key id, private key) of this node's active node key."""
    key = ensure_node_key()
    private = _node_key_cache.get(key.key_id)
    if private is None:
        from core.keyvault import unseal

        raw = unseal(bytes(key.sealed_private_key), context=_node_key_context(key.key_id))
        private = ed25519.Ed25519PrivateKey.from_private_bytes(raw)
        _node_key_cache[key.key_id] = private
    return key.key_id, private


def node_key_card_entry() -> dict[str, str]:
    """The node key as the node card publishes it."""
    key = ensure_node_key()
    return {"alg": "ed25519", "keyid": key.key_id, "key": base64.b64encode(bytes(key.public_key)).decode()}
