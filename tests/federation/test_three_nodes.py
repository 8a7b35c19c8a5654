"""Three real nodes (tests/federation/nodes.py): separate processes, databases and ports,
peered with the CLI, each witnessing the other two. Everything is asserted over HTTP (receipts,
tiles, gossip, ledger entries) except what only a node's operator sees (evidence rows, trust),
read from that node's own database.

The tests share the network and run in order: quorum, clock skew, a witness down, then two
liars: node3 shows node1 and node2 two views of its log (caught only by gossip), and node1
rewrites its own log (caught by node2 and node3)."""

from __future__ import annotations

import json
import time

import pytest

from federation import devnet
from federation.gossip import GOSSIP_PATH
from ledger import merkle, note
from tests.federation.conftest import CLOCK_SKEW_SECONDS
from tests.federation.nodes import Network, cosigners, leaf_hashes_from_tiles, wait_until

pytestmark = pytest.mark.timeout(300)

OTHERS = {"node1": ("node2", "node3"), "node2": ("node1", "node3"), "node3": ("node1", "node2")}


def _last_receipt(net: Network, name: str) -> dict:
    entry = net.entries(name)[-1]
    r = net.get(name, f"/api/v1/ledger/receipts/{entry['event_id']}")
    r.raise_for_status()
    return r.json()


def _witnessed(net: Network, name: str, size: int, by: tuple[str, ...]) -> dict | None:
    """The receipt's witnessed checkpoint when it is at `size` and cosigned by all of `by`."""
    w = _last_receipt(net, name).get("witnessed")
    if not w or w["tree_size"] != size or set(cosigners(w["checkpoint"], net, *by)) != set(by):
        return None
    return w


def _cosigned_by(net: Network, witness: str, log: str) -> int | None:
    """The size of `log` that `witness` says (its gossip) it cosigned last."""
    r = net.get(witness, GOSSIP_PATH)
    r.raise_for_status()
    origin = net[log].origin
    return next((c["tree_size"] for c in r.json()["checkpoints"] if c["origin"] == origin), None)


def _seed(node: devnet.Node, count: int = 2) -> int:
    return int(
        json.loads(node.manage("ledger", "seed-demo", "--count", str(count)).stdout)["checkpoint_size"]
    )


def _evidence(net: Network, at: str, liar: str) -> list[tuple[str, str]]:
    return net.sql(
        at,
        "SELECT e.kind, e.detected_via FROM federation_evidence e JOIN federation_peer p ON p.id = e.peer_id "
        "WHERE p.origin = %s",
        (net[liar].origin,),
    )


def _trusted(net: Network, at: str, peer: str) -> bool:
    [(trusted,)] = net.sql(at, "SELECT trusted FROM federation_peer WHERE origin = %s", (net[peer].origin,))
    return bool(trusted)


def _equivocation_entries(net: Network, at: str, liar: str) -> list[dict]:
    return [
        e
        for e in net.entries(at)
        if e["event_type"] == "federation.equivocation" and net[liar].origin in json.dumps(e["payload"])
    ]


def test_each_log_is_witnessed_by_the_other_two(network: Network):
    sizes = dict(zip(OTHERS, devnet.parallel(_seed, network.nodes), strict=True))
    for name, others in OTHERS.items():
        w = wait_until(
            lambda name=name, others=others: _witnessed(network, name, sizes[name], others),
            timeout=45,
            what=f"{name}'s checkpoint at {sizes[name]} witnessed by {others}",
        )
        # the witnessed note is the log's own checkpoint, the one /tlog/checkpoint serves
        text, _ = note.open_note(w["checkpoint"], network.log_verifiers(name))
        cp = note.parse_checkpoint(text)
        assert cp == network.checkpoint(name) and cp.size == sizes[name]
        # and its root is the root of the tree the node's tiles hold
        assert merkle.root(leaf_hashes_from_tiles(network, name, cp.size)) == cp.root


def test_a_witness_with_a_skewed_clock_still_counts(network: Network):
    """node3's clock runs an hour ahead: its cosignatures say so, and they count."""
    w = _last_receipt(network, "node1")["witnessed"]
    stamps = cosigners(w["checkpoint"], network, "node2", "node3")
    assert abs(stamps["node3"] - stamps["node2"] - CLOCK_SKEW_SECONDS) < 120


def test_a_witness_down_delays_the_quorum_and_it_catches_up(network: Network):
    node3 = network["node3"]
    node3.stop()
    try:
        size = _seed(network["node1"])
        wait_until(
            lambda: _cosigned_by(network, "node2", "node1") == size, timeout=30, what="node2's cosignature"
        )
        # 2 of 2: with node3 down no witnessed checkpoint covers the new entries, though node1
        # pushes again every second
        for _ in range(3):
            assert _last_receipt(network, "node1")["witnessed"] is None
            time.sleep(1)
    finally:
        node3.start()
        node3.wait_ready()
    wait_until(
        lambda: _witnessed(network, "node1", size, ("node2", "node3")),
        timeout=45,
        what="node1's checkpoint witnessed once node3 is back",
    )


SPLIT_VIEW = """
import json, time
from django.db import transaction
from federation import http
from ledger import merkle, note, services, witness_protocol
from ledger.models import Checkpoint, Entry

size = Checkpoint.objects.order_by("-id").first().tree_size  # what the witnesses cosigned
rows = Entry.objects.filter(index__lt=size).order_by("index")
leaves = [bytes(h) for h in rows.values_list("leaf_hash", flat=True)]
with transaction.atomic():
    services.lock_head()
    keys = services.ensure_keys()
signers = [services.signer_for(keys[a]) for a in (note.ALG_ED25519, note.ALG_FALCON, note.ALG_MLDSA)]
answers = {}
for view, url in (("A", "%(url1)s"), ("B", "%(url2)s")):
    tree = leaves + [merkle.leaf_hash(("split view " + view).encode())]
    text = note.checkpoint_text(services.origin(), size + 1, merkle.root(tree))
    signed = note.sign_note(text, signers, timestamp=int(time.time()))
    proof = merkle.consistency_proof(tree, size, size + 1) if size else []
    body = witness_protocol.format_add_checkpoint(size, proof, signed)
    answers[view] = http.post(url + "/witness/add-checkpoint", body, "text/plain").status
print(json.dumps(answers))
"""


def test_a_split_view_is_caught_by_gossip(network: Network):
    """node3, offline to everyone, has node1 cosign one checkpoint of its log and node2 another
    of the same size. Each is consistent with what that witness saw; only their gossip shows
    the two together."""
    size = network.checkpoint("node3").size
    for w in ("node1", "node2"):
        wait_until(
            lambda w=w: _cosigned_by(network, w, "node3") == size, timeout=30, what=f"{w} at node3's head"
        )
    node3 = network["node3"]
    node3.stop()
    try:
        out = node3.manage(
            "shell", "-c", SPLIT_VIEW % {"url1": network["node1"].url, "url2": network["node2"].url}
        )
        assert json.loads(out.stdout.strip().splitlines()[-1]) == {"A": 200, "B": 200}
        for at in ("node1", "node2"):
            found = wait_until(
                lambda at=at: _evidence(network, at, "node3"), timeout=30, what=f"evidence at {at}"
            )
            assert ("same-size", "gossip") in found
            assert not _trusted(network, at, "node3")
            wait_until(
                lambda at=at: _equivocation_entries(network, at, "node3"),
                timeout=30,
                what=f"the federation.equivocation entry on {at}'s ledger",
            )
    finally:
        node3.start()
        node3.wait_ready()


FORK = """
from django.core.management import call_command
from django.db import connection, transaction
from ledger import merkle, services
from ledger.models import Batch, Entry, Head, TreeNode
from ledger.selectors import fetch_nodes

# cut at the start of the signed batch that holds entry `at` (a batch is signed as a whole)
k = Batch.objects.filter(first__lte=%(at)d).order_by("-first").values_list("first", flat=True).first()
k = %(at)d if k is None else k
with transaction.atomic():
    if connection.vendor == "postgresql":
        with connection.cursor() as c:  # the append-only triggers, off for this transaction
            c.execute("SET LOCAL session_replication_role = replica")
    services.lock_head()
    Entry.objects.filter(index__gte=k).delete()
    Batch.objects.filter(first__gte=k).delete()
    TreeNode.objects.filter(leaf__gte=k).delete()
    ids = merkle.root_nodes(k)
    nodes = fetch_nodes(ids)
    last = bytes(Entry.objects.get(index=k - 1).leaf_hash)
    Head.objects.filter(pk=1).update(size=k, last_leaf_hash=last, compact=b"".join(nodes[i] for i in ids))
call_command("ledger", "seed-demo", count=%(size)d + 1 - k)  # other entries, a checkpoint signed with its keys
"""


def test_a_forked_log_is_detected_by_its_peers(network: Network):
    """node1 rewrites the end of its log and signs the new history with its real keys."""
    size = network.checkpoint("node1").size
    for w in ("node2", "node3"):
        wait_until(
            lambda w=w: _cosigned_by(network, w, "node1") == size, timeout=30, what=f"{w} at node1's head"
        )
    network["node1"].manage("shell", "-c", FORK % {"at": size - 2, "size": size})
    forked = network.checkpoint("node1")
    assert forked.size == size + 1
    for at in ("node2", "node3"):
        found = wait_until(
            lambda at=at: _evidence(network, at, "node1"), timeout=30, what=f"evidence at {at}"
        )
        assert {kind for kind, _ in found} <= {"inconsistent", "same-size"}
        assert not _trusted(network, at, "node1")
        wait_until(
            lambda at=at: _equivocation_entries(network, at, "node1"),
            timeout=30,
            what=f"the federation.equivocation entry on {at}'s ledger",
        )
