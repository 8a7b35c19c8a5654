"""The monitor against a peer over real HTTP (tests/federation/peer_server.py): it keeps the
log's verified checkpoints, proves each new one consistent with what it saw, and turns a
rewritten, rolled-back or same-size-other-root log into evidence; an unreachable or
unhelpful peer is no evidence."""

from __future__ import annotations

import socket
import time

import pytest
from django.core.cache import cache

from federation import monitor
from federation.models import Evidence, Peer, SeenCheckpoint
from federation.peers import add_peer
from ledger.models import PendingEvent
from tests.federation.peer_log import PeerLog
from tests.federation.peer_server import PeerServer

pytestmark = pytest.mark.django_db

CONSISTENCY = monitor.CONSISTENCY_PATH


@pytest.fixture
def log():
    return PeerLog(leaves=8)


@pytest.fixture
def server(log):
    with PeerServer(log) as s:
        yield s


@pytest.fixture
def peer(log, server):
    return add_peer(origin=log.origin, vkeys=log.vkeys, url=server.url, role="log")


def _refresh(peer: Peer) -> Peer:
    peer.refresh_from_db()
    return peer


def test_keeps_the_verified_checkpoint_of_each_log(peer, log):
    report = monitor.monitor_peers()
    assert report.fetched == [log.origin] and not report.errors
    row = SeenCheckpoint.objects.get(peer=peer)
    assert (row.tree_size, bytes(row.root_hash), row.source) == (8, log.root(), "fetched")
    monitor.monitor_peers()  # the same checkpoint again: nothing new
    assert SeenCheckpoint.objects.filter(peer=peer).count() == 1


def test_growth_is_proven_consistent_with_one_proof_per_new_checkpoint(peer, log, server):
    monitor.monitor_peers()
    for _ in range(3):
        log.grow(5)
        report = monitor.monitor_peers()
        assert report.checked == 1 and report.evidence == []
    assert server.requests[CONSISTENCY] == 3  # each against the anchor, not against every one seen
    assert SeenCheckpoint.objects.filter(peer=peer).count() == 4
    assert _refresh(peer).trusted and not Evidence.objects.exists()


def test_a_rewritten_log_is_evidence(peer, log, server):
    monitor.monitor_peers()
    server.log = log.fork(at=5).grow(4)  # the same keys sign a rewrite from entry 5 on, 12 entries
    report = monitor.monitor_peers()
    ev = Evidence.objects.get(peer=peer)
    assert report.evidence == [ev.pk]
    assert (ev.kind, ev.detected_via) == ("inconsistent", "monitor")
    assert "\n8\n" in ev.first_note and "\n12\n" in ev.second_note
    assert not _refresh(peer).trusted
    assert PendingEvent.objects.filter(event_type="federation.equivocation").count() == 1
    assert monitor.monitor_peers().evidence == []  # untrusted: no longer monitored, no second row
    assert Evidence.objects.count() == 1


def test_the_same_size_with_another_root_needs_no_proof(peer, log, server):
    monitor.monitor_peers()
    server.log = log.fork(at=3)  # 8 entries again, another root
    monitor.monitor_peers()
    ev = Evidence.objects.get(peer=peer)
    assert ev.kind == "same-size" and not _refresh(peer).trusted
    assert server.requests[CONSISTENCY] == 0


def test_a_log_that_signed_a_smaller_tree_later_is_evidence(peer, log, server):
    monitor.monitor_peers()
    fork = log.fork(at=6)
    fork.leaves = fork.leaves[:6]  # it now serves a tree of 6 (no proof 6 -> 8 exists)...
    server.log = fork
    server.checkpoint_text = fork.checkpoint(timestamp=int(time.time()) + 5)  # ...signed later
    monitor.monitor_peers()
    ev = Evidence.objects.get(peer=peer)
    assert (ev.kind, ev.detected_via) == ("rollback", "monitor") and not _refresh(peer).trusted
    assert "\n8\n" in ev.first_note and "\n6\n" in ev.second_note


def test_a_log_that_gives_no_proof_is_asked_again_not_convicted(peer, log, server):
    """No proof is no evidence anyone else could check (ledger.equivocation): a warning, and
    the same question next run."""
    monitor.monitor_peers()
    log.grow(4)
    server.proof_status = 400
    for _ in range(2):
        assert monitor.monitor_peers().evidence == []
    assert server.requests[CONSISTENCY] == 2 and _refresh(peer).trusted
    server.proof_status = None
    assert monitor.monitor_peers().checked == 1


def test_a_power_of_two_prefix_fork_is_evidence(peer, log, server):
    """Size 8: the RFC 9162 proof leaves the prefix root implied; the evidence carries it."""
    monitor.monitor_peers()
    server.log = log.fork(at=3).grow(5)
    monitor.monitor_peers()
    ev = Evidence.objects.get(peer=peer)
    assert ev.kind == "inconsistent" and len(ev.proof.split()) >= 2


def test_a_log_that_shrank_but_is_still_a_prefix_is_no_evidence(peer, log, server):
    """A stale answer (a cache serving an older checkpoint) is consistent: no evidence."""
    old = log.checkpoint(5)
    monitor.monitor_peers()
    server.checkpoint_text = old
    assert monitor.monitor_peers().checked == 1
    assert _refresh(peer).trusted and not Evidence.objects.exists()


def test_a_checkpoint_not_signed_by_the_log_is_refused(peer, log, server):
    impostor = PeerLog(origin=log.origin, leaves=8)  # same origin, other keys
    server.checkpoint_text = impostor.checkpoint()
    report = monitor.monitor_peers()
    assert log.origin in report.errors and "no signature" in report.errors[log.origin]
    assert not SeenCheckpoint.objects.exists() and _refresh(peer).trusted


def test_a_checkpoint_of_another_log_is_refused(peer, server):
    server.checkpoint_text = PeerLog(origin="elsewhere.example/ledger", leaves=3).checkpoint()
    report = monitor.monitor_peers()
    assert report.errors and not SeenCheckpoint.objects.exists()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_an_unreachable_peer_is_no_evidence(log):
    peer = add_peer(origin=log.origin, vkeys=log.vkeys, url=_closed_port_url(), role="log")
    report = monitor.monitor_peers()
    assert "unreachable" in report.errors[log.origin]
    assert _refresh(peer).trusted and not SeenCheckpoint.objects.exists()


def test_without_a_proof_the_check_waits_for_the_next_run(peer, log, server):
    monitor.monitor_peers()
    log.grow(3)
    server.proof_status = 503
    report = monitor.monitor_peers()
    assert report.checked == 0 and report.evidence == [] and _refresh(peer).trusted
    server.proof_status = None
    assert monitor.monitor_peers().checked == 1
    assert not Evidence.objects.exists()


def test_when_the_cache_forgets_the_anchor_everything_seen_is_checked_again(peer, log, server):
    monitor.monitor_peers()
    log.grow(2)
    monitor.monitor_peers()
    log.grow(2)
    monitor.monitor_peers()
    cache.clear()
    checked, ev = monitor.audit(peer)
    assert (checked, ev) == (2, None)  # three checkpoints: 8 -> 10 -> 12, against the growing anchor


def test_a_checkpoint_pushed_to_our_witness_is_held_against_the_fetched_one(peer, log, server):
    """Rows from any source are compared: here one that reached the witness endpoint, of a
    history the log no longer serves."""
    log.grow(4)
    monitor.monitor_peers()
    fork = log.fork(at=2)
    SeenCheckpoint.objects.create(
        peer=peer, tree_size=8, root_hash=fork.root(8), note=fork.checkpoint(8), source="pushed"
    )
    monitor.monitor_peers()
    ev = Evidence.objects.get(peer=peer)
    assert (ev.kind, ev.detected_via) == ("inconsistent", "monitor")
