"""The witness policy of this node's log and the checkpoints that meet it.

The policy is the Sigsum policy file `FEDERATION_POLICY_FILE` (QMC_WITNESS_POLICY) or, when
that is unset, a majority of the trusted witness peers this node pushes to (one Ed25519
`cosignature/v1` key each, named by its key name) with this log's Ed25519 key as its `log`
line. A checkpoint is *witnessed* once the Ed25519 keys whose cosignatures we verified and
stored for it (`Cosignature`, trusted peers only) satisfy the policy; its
`WitnessedCheckpoint` note is the checkpoint with every stored cosignature line appended.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from federation.models import Cosignature, Peer, PeerKey, WitnessedCheckpoint
from ledger import note
from ledger.models import Checkpoint, SigningKey
from ledger.policy import (
    NONE,
    Policy,
    PolicyError,
    PolicyLog,
    PolicyWitness,
    format_policy,
    majority_policy,
    parse_policy,
    satisfied,
)

log = logging.getLogger(__name__)


class PolicyFileError(PolicyError):
    """FEDERATION_POLICY_FILE cannot be read or parsed."""


def policy_file() -> str:
    return str(getattr(settings, "FEDERATION_POLICY_FILE", "") or "")


def _pushable_witnesses():
    return Peer.objects.filter(trusted=True, role__in=(Peer.ROLE_WITNESS, Peer.ROLE_BOTH)).exclude(url="")


def _log_keys() -> tuple[PolicyLog, ...]:
    from ledger.services import origin

    return tuple(
        PolicyLog(bytes(k.public_key))
        for k in SigningKey.objects.filter(
            algorithm=note.ALG_ED25519, name=origin(), retired_at__isnull=True
        ).order_by("id")
    )


def default_policy() -> Policy:
    """A majority of the trusted witness peers with a URL: the newest Ed25519 witness key of
    each (quorum `none` when there are none: then nothing is witnessed)."""
    newest: dict[int, PeerKey] = {}
    for k in PeerKey.objects.filter(
        peer__in=_pushable_witnesses(), purpose="witness", algorithm=note.ALG_COSIG_V1
    ).order_by("id"):
        newest[k.peer_id] = k
    witnesses: dict[str, PolicyWitness] = {}
    for k in sorted(newest.values(), key=lambda k: k.peer_id):
        if k.name in witnesses:
            log.warning("federation: two witness peers use the key name %s; only the first counts", k.name)
            continue
        v = note.parse_vkey(k.vkey)
        witnesses[k.name] = PolicyWitness(k.name, v.public_key)
    return majority_policy(list(witnesses.values()), _log_keys())


def load_policy_file(path: str) -> Policy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(f"cannot read the witness policy {path}: {exc}") from None
    try:
        return parse_policy(text)
    except PolicyError as exc:
        raise PolicyFileError(f"witness policy {path}: {exc}") from None


def effective_policy() -> Policy:
    path = policy_file()
    return load_policy_file(path) if path else default_policy()


def requires_witnesses(policy: Policy) -> bool:
    """A policy with quorum `none` (or no witnesses) witnesses nothing here: a checkpoint
    counts as witnessed only when someone besides the log vouched for it."""
    return bool(policy.witnesses) and policy.quorum != NONE


def policy_text() -> str:
    return format_policy(effective_policy())


def cosigned_keys(cp: Checkpoint) -> set[bytes]:
    """Ed25519 public keys of the trusted witness peers whose cosignature of `cp` we stored."""
    rows = set(
        Cosignature.objects.filter(
            checkpoint=cp, peer__trusted=True, algorithm=note.ALG_COSIG_V1
        ).values_list("peer_id", "key_id")
    )
    if not rows:
        return set()
    keys = PeerKey.objects.filter(
        peer_id__in={p for p, _ in rows}, purpose="witness", algorithm=note.ALG_COSIG_V1
    ).values_list("peer_id", "key_id", "vkey")
    return {note.parse_vkey(vkey).public_key for peer_id, kid, vkey in keys if (peer_id, kid) in rows}


def witnessed_note(cp: Checkpoint) -> str:
    """The checkpoint with every stored cosignature line of the trusted peers appended."""
    lines = list(
        Cosignature.objects.filter(checkpoint=cp, peer__trusted=True)
        .order_by("id")
        .values_list("line", flat=True)
    )
    return note.add_signatures(cp.note, lines)


def update_witnessed(cp: Checkpoint) -> WitnessedCheckpoint | None:
    """Create (or refresh with newer cosignatures) `cp`'s WitnessedCheckpoint when its stored
    cosignatures meet the policy. A checkpoint once witnessed stays witnessed."""
    try:
        policy = effective_policy()
    except PolicyFileError as exc:
        log.error("federation: %s; no checkpoint is witnessed until it is fixed", exc)
        return None
    try:
        with transaction.atomic():
            # one evaluation per checkpoint at a time: the last to lock sees every cosignature
            list(Checkpoint.objects.select_for_update().filter(pk=cp.pk).values_list("pk"))
            existing = WitnessedCheckpoint.objects.filter(checkpoint=cp).first()
            if existing is None and not requires_witnesses(policy):
                return None
            if existing is None and not satisfied(policy, cosigned_keys(cp)):
                return None
            text = witnessed_note(cp)
            if existing is None:
                return WitnessedCheckpoint.objects.create(checkpoint=cp, tree_size=cp.tree_size, note=text)
            if existing.note != text:
                existing.note = text
                existing.save(update_fields=["note"])
            return existing
    except IntegrityError:  # SQLite has no row locks: another process created it first
        return WitnessedCheckpoint.objects.filter(checkpoint=cp).first()
    except note.NoteError as exc:
        log.error("federation: checkpoint %d: cannot append its cosignatures (%s)", cp.tree_size, exc)
        return None


def newest_witnessed(min_size: int = 0) -> tuple[int, str] | None:
    """(tree size, note) of the newest witnessed checkpoint larger than `min_size`: what a
    receipt of the entry at index `min_size` carries (ledger.selectors' witnessed hook)."""
    row = (
        WitnessedCheckpoint.objects.filter(tree_size__gt=min_size)
        .order_by("-tree_size", "-id")
        .values_list("tree_size", "note")
        .first()
    )
    return (row[0], row[1]) if row else None
