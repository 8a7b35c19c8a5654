"""The witness side of c2sp.org/tlog-witness: `add_checkpoint(body)` decides a request from a
peer's log, advances what this node cosigned for it and answers with its cosignatures.

Check and store are one step under a row lock (`WitnessedLog`, SELECT ... FOR UPDATE), so two
concurrent requests from the same old size cannot both win, and sizes never go back (the
spec's rollback race). Signatures are checked before the lock and the cosignatures made after
it: the state is committed before the answer leaves, as the spec requires. A request validly
signed by the log that contradicts what this node cosigned is evidence of a lie.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import transaction

from federation.evidence import record_evidence
from federation.keys import witness_signers
from federation.models import Peer, SeenCheckpoint, WitnessedLog
from federation.peers import log_verifiers, trusted_peer
from ledger import note, witness_protocol
from ledger.witness_protocol import CONTENT_TYPE_SIZE, CONTENT_TYPE_TEXT


@dataclass(frozen=True)
class WitnessAnswer:
    status: int
    content_type: str
    body: bytes


def _text(status: int, message: str) -> WitnessAnswer:
    return WitnessAnswer(status, CONTENT_TYPE_TEXT, (message + "\n").encode())


def _size(size: int) -> WitnessAnswer:
    return WitnessAnswer(409, CONTENT_TYPE_SIZE, witness_protocol.format_size(size))


def _remember(peer: Peer, cp: note.Checkpoint, signed: str) -> None:
    SeenCheckpoint.objects.get_or_create(
        peer=peer, tree_size=cp.size, root_hash=cp.root, defaults={"note": signed, "source": "pushed"}
    )


def add_checkpoint(body: bytes) -> WitnessAnswer:
    try:
        req = witness_protocol.parse_add_checkpoint(body)
        cp = req.parsed
    except (witness_protocol.ProtocolError, note.NoteError) as e:
        return _text(400, f"malformed add-checkpoint request: {e}")
    peer = trusted_peer(cp.origin)
    if peer is None or not peer.is_log:
        return _text(404, f"this witness does not witness the log {cp.origin!r}")
    verifiers = log_verifiers(peer)
    # checked before the row lock; strict like Go's note.Open (a trusted key's signature that
    # fails refuses the note), so whatever is stored can later serve as evidence
    try:
        _, signed_by = note.open_note(req.checkpoint, verifiers)
    except note.NoteError as e:
        return _text(403, f"the checkpoint is not signed by this log's trusted keys: {e}")
    if req.old_size > cp.size:
        return _text(400, f"old size {req.old_size} is greater than the checkpoint size {cp.size}")
    _remember(peer, cp, req.checkpoint)
    WitnessedLog.objects.get_or_create(peer=peer)
    answer: WitnessAnswer | None = None
    with transaction.atomic():
        state = WitnessedLog.objects.select_for_update().get(peer=peer)
        cosigned_root = bytes(state.root_hash) or None
        try:
            if not Peer.objects.filter(pk=peer.pk, trusted=True).exists():  # caught lying meanwhile
                raise witness_protocol.UnknownOrigin(f"this witness does not witness the log {cp.origin!r}")
            witness_protocol.check_request(
                req, cosigned_size=state.size, cosigned_root=cosigned_root, verifiers=signed_by
            )
        except witness_protocol.StaleOld as e:
            answer = _size(e.current_size)
        except witness_protocol.BadProof as e:
            if cp.size == state.size and cosigned_root is not None:  # same size, another root: 409
                answer = _size(state.size)
            else:
                answer = _text(422, f"consistency proof refused: {e}")
        except witness_protocol.WitnessError as e:
            answer = _text(e.status, str(e))
        else:
            state.size, state.root_hash, state.checkpoint = cp.size, cp.root, req.checkpoint
            state.save(update_fields=["size", "root_hash", "checkpoint", "updated_at"])
    if answer is not None and state.checkpoint and state.checkpoint != req.checkpoint:
        # refused, but signed by the log: does it contradict what we cosigned? (check_pair
        # decides: same size with another root, a proof showing a fork, a timestamped rollback)
        proof = req.proof if req.old_size == state.size else None
        record_evidence(
            peer=peer,
            first_note=state.checkpoint,
            second_note=req.checkpoint,
            proof=proof,
            via="add-checkpoint",
        )
    if answer is not None:
        return answer
    lines = note.signature_lines(req.text, witness_signers(), timestamp=int(time.time()))
    return WitnessAnswer(200, CONTENT_TYPE_TEXT, witness_protocol.format_cosignatures(lines))
