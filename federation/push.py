"""The log side of c2sp.org/tlog-witness: push this node's newest checkpoint to its witnesses
and keep the cosignatures they return.

For each trusted witness peer with a URL, `push_to_peer` sends `old N` (the size the witness
cosigned last, `WitnessPush.size`), the consistency proof from N, and the signed checkpoint
to `<url>/witness/add-checkpoint`. A 409 names the witness's size: the request is sent
once more from that size. Every cosignature line of a 200 is checked against that peer's
witness keys one by one; a line that does not verify is logged and dropped, never stored.
Network errors and 5xx answers are `PushRetryable` (the Celery task retries them with
backoff); the periodic `push_pending` task pushes again to every witness that has not
cosigned the newest checkpoint, so a witness that was down catches up when it is back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from federation import http, peers, quorum
from federation.models import Cosignature, Peer, WitnessedCheckpoint, WitnessPush
from ledger import merkle, note, witness_protocol
from ledger.models import Checkpoint
from ledger.selectors import consistency_proof, latest_checkpoint

log = logging.getLogger(__name__)

ADD_CHECKPOINT_PATH = "/witness/add-checkpoint"
REQUEST_CONTENT_TYPE = "text/plain; charset=utf-8"


class PushFailed(Exception):
    """The witness did not cosign, for a reason that asking again right away will not fix
    (refused: 4xx, a malformed answer, a witness ahead of our log)."""


class PushRetryable(PushFailed):
    """The witness could not be reached or failed (5xx, 429): ask again later."""


@dataclass(frozen=True)
class PushResult:
    peer: str  # the witness peer's origin
    tree_size: int
    accepted: int  # cosignature lines verified and stored
    rejected: int  # lines that did not verify with the peer's witness keys
    error: str = ""
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


def witness_peers() -> QuerySet[Peer]:
    """The peers that witness this node's log and can be reached."""
    return (
        Peer.objects.filter(trusted=True, role__in=(Peer.ROLE_WITNESS, Peer.ROLE_BOTH))
        .exclude(url="")
        .order_by("id")
    )


def lagging_peers(cp: Checkpoint) -> list[Peer]:
    """Witness peers that have not cosigned `cp` (one query)."""
    return list(witness_peers().exclude(cosignatures__checkpoint=cp))


def _sanitize(text: str, limit: int = 200) -> str:
    return "".join(c if c.isprintable() else " " for c in text[:limit]).strip()


def _record_failure(peer: Peer, message: str) -> None:
    WitnessPush.objects.filter(peer=peer).update(attempts=F("attempts") + 1, last_error=message[:300])


def _send(peer: Peer, old: int, cp: Checkpoint) -> http.Response:
    proof = consistency_proof(old, cp.tree_size, check_size=False) if 0 < old < cp.tree_size else []
    body = witness_protocol.format_add_checkpoint(old, proof, cp.note)
    return http.post(peer.url.rstrip("/") + ADD_CHECKPOINT_PATH, body, REQUEST_CONTENT_TYPE)


def _conflict_size(resp: http.Response) -> int:
    if resp.content_type != witness_protocol.CONTENT_TYPE_SIZE:
        raise PushFailed(f"409 without a {witness_protocol.CONTENT_TYPE_SIZE} body")
    try:
        return witness_protocol.parse_size(resp.body)
    except witness_protocol.ProtocolError as exc:
        raise PushFailed(f"409 with an unreadable size: {exc}") from None


def _exchange(peer: Peer, old: int, cp: Checkpoint) -> http.Response:
    """POST add-checkpoint from `old`; on a 409, once more from the size the witness names."""
    resp = _send(peer, old, cp)
    if resp.status == 409:
        size = _conflict_size(resp)
        if size > cp.tree_size:
            raise PushFailed(
                f"the witness has cosigned size {size}, beyond our newest checkpoint ({cp.tree_size})"
            )
        if size == old:  # it disagrees with a same-size root, or answers 409 for nothing
            raise PushFailed(f"409 Conflict at size {size}: {_sanitize(resp.text)}")
        resp = _send(peer, size, cp)
    if resp.status == 200:
        return resp
    detail = f"{resp.status} from the witness: {_sanitize(resp.text) or 'no message'}"
    if resp.status >= 500 or resp.status == 429:
        raise PushRetryable(detail)
    raise PushFailed(detail)


def verify_lines(
    cp_note: str, lines: list[str], verifiers: list[note.Verifier]
) -> tuple[list[Cosignature], int]:
    """Cosignature rows (unsaved, without peer) for the lines that verify with `verifiers`,
    and how many did not. Each line is checked on its own, so one forged line cannot hide
    behind a good one."""
    text, _ = note.split_note(cp_note)
    good: list[Cosignature] = []
    rejected = 0
    for line in lines:
        line = line if line.endswith("\n") else line + "\n"
        try:
            found = note.verified_signatures(text + "\n" + line, verifiers)
        except note.NoteError:
            found = []
        if not found:
            rejected += 1
            continue
        v, ts = found[0]
        good.append(Cosignature(key_id=v.key_id_hex, algorithm=v.algorithm, timestamp=ts, line=line))
    return good, rejected


def _accept(peer: Peer, cp: Checkpoint, body: bytes) -> PushResult:
    try:
        lines = witness_protocol.parse_cosignatures(body)
    except witness_protocol.ProtocolError as exc:
        raise PushFailed(f"the witness answered 200 with no readable cosignature lines ({exc})") from None
    good, rejected = verify_lines(cp.note, lines, peers.witness_verifiers(peer))
    if rejected:
        log.warning(
            "federation: %d cosignature line(s) from witness %s on checkpoint %d do not verify "
            "with its keys; rejected",
            rejected,
            peer.origin,
            cp.tree_size,
        )
    with transaction.atomic():
        for c in good:
            c.checkpoint, c.peer = cp, peer
        Cosignature.objects.bulk_create(good, ignore_conflicts=True)
        fields: dict = {"size": Greatest(F("size"), cp.tree_size)}
        if good:
            fields.update(attempts=0, last_success_at=timezone.now())
            fields["last_error"] = f"{rejected} cosignature line(s) rejected" if rejected else ""
        else:
            fields.update(
                attempts=F("attempts") + 1, last_error=f"no valid cosignature ({rejected} rejected)"
            )
        WitnessPush.objects.filter(peer=peer).update(**fields)
    if good:
        quorum.update_witnessed(cp)
    return PushResult(
        peer.origin,
        cp.tree_size,
        accepted=len(good),
        rejected=rejected,
        error="" if good else "no valid cosignature",
    )


def push_to_peer(peer: Peer, cp: Checkpoint) -> PushResult:
    """Ask one witness to cosign `cp`. Raises PushRetryable / PushFailed (recorded in its
    `WitnessPush` row: attempts + 1, last_error)."""
    state, _ = WitnessPush.objects.get_or_create(peer=peer)
    old = state.size
    try:
        if old > cp.tree_size:
            raise PushFailed(
                f"the witness has cosigned size {old}, beyond our newest checkpoint ({cp.tree_size})"
            )
        return _accept(peer, cp, _exchange(peer, old, cp).body)
    except http.PeerUnreachable as exc:
        _record_failure(peer, str(exc))
        raise PushRetryable(str(exc)) from None
    except merkle.ProofError as exc:
        _record_failure(peer, f"no consistency proof from size {old}: {exc}")
        raise PushFailed(f"no consistency proof from size {old}: {exc}") from None
    except PushFailed as exc:
        _record_failure(peer, str(exc))
        raise


def push_all() -> list[PushResult]:
    """Push the newest checkpoint to every witness that has not cosigned it yet."""
    cp = latest_checkpoint()
    if cp is None:
        return []
    results = []
    for peer in lagging_peers(cp):
        try:
            results.append(push_to_peer(peer, cp))
        except PushFailed as exc:
            log.info("federation: push of checkpoint %d to %s failed: %s", cp.tree_size, peer.origin, exc)
            results.append(
                PushResult(
                    peer.origin,
                    cp.tree_size,
                    0,
                    0,
                    error=str(exc),
                    retryable=isinstance(exc, PushRetryable),
                )
            )
    if not WitnessedCheckpoint.objects.filter(checkpoint=cp).exists():
        quorum.update_witnessed(cp)  # also after a crash between storing cosignatures and that
    return results


def has_witnesses() -> bool:
    return witness_peers().exists()
