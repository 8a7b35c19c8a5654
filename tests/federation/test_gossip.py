"""Gossip: this node's list of what it cosigned (`GET /network/gossip/cosigned`), and the
monitor reading its peers' lists, where a split view (one log, two incompatible checkpoints
shown to two witnesses) shows up. Peers are real HTTP servers (peer_server.py) or this
node's own live server."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from django.urls import reverse

from federation import gossip, http, monitor
from federation.keys import witness_verifiers
from federation.models import Evidence, SeenCheckpoint
from federation.peers import add_peer
from ledger import note
from tests.federation.peer_log import PeerLog
from tests.federation.peer_server import PeerServer

URL = "/network/gossip/cosigned"


def _witness_vkey(name: str = "hospital-w.example/witness") -> str:
    pk, _ = note.generate(note.ALG_COSIG_V1)
    return note.vkey(name, note.ALG_COSIG_V1, pk)


def _cosign(client, log: PeerLog, old: int = 0) -> None:
    r = client.post(reverse("witness-add-checkpoint"), log.body(old), content_type="text/plain")
    assert r.status_code == 200, r.content


@pytest.mark.django_db
def test_the_list_holds_what_this_node_cosigned_with_its_cosignature(client):
    assert reverse("gossip-cosigned") == URL
    empty = client.get(URL)
    assert empty.status_code == 200 and empty.json()["checkpoints"] == []
    log = PeerLog(leaves=5)
    add_peer(origin=log.origin, vkeys=log.vkeys, role="log")
    _cosign(client, log)
    log.grow(3)
    _cosign(client, log, old=5)
    r = client.get(URL)
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert "no-cache" in r["Cache-Control"]
    data = r.json()
    assert data["format"] == gossip.FORMAT
    [item] = data["checkpoints"]
    assert (item["origin"], item["tree_size"]) == (log.origin, 8)
    signed = item["checkpoint"]
    assert note.verified_signatures(signed, log.verifiers)  # the log's own signature
    ours = {v.algorithm for v, _ in note.verified_signatures(signed, witness_verifiers())}
    assert ours == {note.ALG_COSIG_V1, note.ALG_MLDSA}  # and this witness's cosignatures
    assert note.parse_checkpoint(note.split_note(signed)[0]).root == log.root()


@pytest.mark.django_db
def test_only_get_and_a_throttle(client):
    r = client.post(URL, b"x", content_type="text/plain")
    assert r.status_code == 405 and r["Allow"] == "GET, HEAD"
    with override_settings(FEDERATION_WITNESS_PER_MINUTE=2):
        assert [client.get(URL).status_code for _ in range(3)] == [200, 200, 429]


@pytest.fixture
def log():
    return PeerLog(leaves=8)


@pytest.fixture
def log_server(log):
    with PeerServer(log) as s:
        yield s


@pytest.fixture
def witness_server():
    with PeerServer() as s:
        yield s


@pytest.fixture
def peers(db, log, log_server, witness_server):
    log_peer = add_peer(origin=log.origin, vkeys=log.vkeys, url=log_server.url, role="log")
    witness = add_peer(
        origin="hospital-w.example/ledger", vkeys=[_witness_vkey()], url=witness_server.url, role="witness"
    )
    return log_peer, witness


def test_a_split_view_is_caught_through_gossip(peers, log, witness_server):
    """The log serves one history to us and had another witness cosign a second one of the
    same size: only the other witness's gossip shows it."""
    log_peer, witness = peers
    other_view = log.fork(at=4)
    witness_server.gossip = [other_view.checkpoint()]
    report = monitor.monitor_peers()
    ev = Evidence.objects.get(peer=log_peer)
    assert report.evidence == [ev.pk]
    assert (ev.kind, ev.detected_via) == ("same-size", "gossip")
    gossiped = SeenCheckpoint.objects.get(peer=log_peer, source="gossip")
    assert gossiped.via == witness.origin and bytes(gossiped.root_hash) == other_view.root()
    log_peer.refresh_from_db()
    assert not log_peer.trusted


def test_a_gossiped_older_fork_is_proven_with_the_logs_own_proof(peers, log, witness_server):
    log_peer, _ = peers
    witness_server.gossip = [log.fork(at=3).checkpoint(6)]
    log.grow(4)
    monitor.monitor_peers()
    ev = Evidence.objects.get(peer=log_peer)
    assert (ev.kind, ev.detected_via) == ("inconsistent", "gossip")


def test_gossip_that_agrees_is_no_evidence(peers, log, witness_server):
    log_peer, _ = peers
    witness_server.gossip = [log.checkpoint(5)]
    report = monitor.monitor_peers()
    assert report.gossiped == 1 and report.evidence == [] and report.checked == 1
    log_peer.refresh_from_db()
    assert log_peer.trusted


def test_gossip_not_signed_by_the_log_or_of_unknown_logs_is_dropped(peers, log, witness_server):
    impostor = PeerLog(origin=log.origin, leaves=8)  # another key claiming the origin
    stranger = PeerLog(origin="stranger.example/ledger", leaves=2)
    witness_server.gossip = [impostor.checkpoint(), stranger.checkpoint(), "not a note"]
    report = monitor.monitor_peers()
    assert report.gossiped == 0 and not report.errors
    assert not SeenCheckpoint.objects.filter(source="gossip").exists()
    assert not Evidence.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"<html>",
        b"[]",
        json.dumps({"format": "other"}).encode(),
        json.dumps({"format": gossip.FORMAT}).encode(),
    ],
)
def test_a_list_that_is_not_gossip_is_an_error_not_a_crash(body):
    with pytest.raises(gossip.GossipUnavailable):
        gossip.parse_list(body)


@pytest.mark.django_db(transaction=True)
def test_a_node_reads_a_real_nodes_list(live_server, client, log):
    """Our own view over real HTTP, read by `collect` as a peer's would be."""
    log_peer = add_peer(origin=log.origin, vkeys=log.vkeys, role="log")
    _cosign(client, log)
    relay = add_peer(
        origin="hospital-w.example/ledger", vkeys=[_witness_vkey()], url=live_server.url, role="witness"
    )
    try:
        [row] = gossip.collect(relay)
    finally:
        http._session().close()  # no keep-alive connection holds a server thread (and its database)
    assert row.peer == log_peer and row.tree_size == 8 and bytes(row.root_hash) == log.root()
