"""Celery tasks of the hospital network.

Log side: `federation.push_checkpoint` runs after each new checkpoint of our ledger commits
(enqueued by `on_checkpoint`, which `FederationConfig.ready` hands to `ledger.services`); it
pushes the newest checkpoint to every witness that has not cosigned it and retries with
exponential backoff (up to 10 minutes apart) while some witness is unreachable or failing.
`federation.push_pending` (beat, every 30 s) does the same push without retrying, so a
witness that was down catches up whatever became of the retries.

`federation.sync_directories` (beat, every 5 minutes) syncs the peers' signed clinician
directories (`federation.directory`): the remote clinicians a patient here may grant.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from federation import push
from federation.card import CardError
from federation.directory import DirectoryError, fetch_and_sync
from federation.http import PeerUnreachable
from federation.models import Peer

log = logging.getLogger(__name__)


class WitnessesPending(push.PushRetryable):
    """Some witnesses could not be reached: retry the push later."""


@shared_task(
    name="federation.push_checkpoint",
    acks_late=True,
    autoretry_for=(WitnessesPending, OperationalError),
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=10,
)
def push_checkpoint_task(checkpoint_id: int | None = None) -> dict:
    """Push the newest checkpoint (`checkpoint_id` is the one that triggered it: a newer one,
    if any, is pushed instead and covers it)."""
    results = push.push_all()
    pending = [r.peer for r in results if r.retryable]
    if pending:
        raise WitnessesPending(f"not yet reached: {', '.join(pending)}")
    return _summary(results)


@shared_task(name="federation.push_pending", acks_late=True)
def push_pending_task() -> dict:
    return _summary(push.push_all())


def _summary(results: list[push.PushResult]) -> dict:
    return {
        "cosigned": [r.peer for r in results if r.ok],
        "failed": {r.peer: r.error for r in results if not r.ok},
    }


def on_checkpoint(checkpoint_id: int) -> None:
    """After a checkpoint commits: enqueue its push when this node has witnesses. Never
    raises (the ledger's commit must not fail for the network); push_pending catches up."""
    try:
        if push.has_witnesses():
            push_checkpoint_task.apply_async(args=[checkpoint_id], retry=False)
    except Exception:  # noqa: BLE001 - the periodic push picks it up
        log.warning("federation: could not enqueue the push of checkpoint %s", checkpoint_id, exc_info=True)


@shared_task(name="federation.monitor_peers", acks_late=True)
def monitor_peers_task() -> dict:
    """Fetch the peers' checkpoints and gossip and check them against what this node saw
    (`federation.monitor`; beat, every FEDERATION_MONITOR_SECONDS)."""
    from federation.monitor import monitor_peers

    return monitor_peers().as_dict()


@shared_task(name="federation.sync_directories", acks_late=True)
def sync_directories_task() -> dict:
    """Sync the signed clinician directory of every trusted peer (beat, every
    FEDERATION_DIRECTORY_SECONDS; `federation add-peer` runs it once for the new peer)."""
    return sync_directories()


def sync_directories(peers=None) -> dict:
    """`federation.directory.fetch_and_sync` for each trusted peer with a URL (or `peers`). A
    peer that fails is logged and left as it was; the others are synced."""
    synced, failed = {}, {}
    if peers is None:
        peers = Peer.objects.filter(trusted=True).exclude(url="")
    for peer in peers:
        try:
            result = fetch_and_sync(peer)
        except (DirectoryError, CardError, PeerUnreachable) as exc:
            failed[peer.origin] = str(exc)[:300]
            log.warning(
                "federation: the directory of %s was not synced: %s", peer.origin, failed[peer.origin]
            )
            continue
        synced[peer.origin] = {
            "version": result.version,
            "added": result.added,
            "updated": result.updated,
            "deactivated": result.deactivated,
        }
    return {"synced": synced, "failed": failed}
