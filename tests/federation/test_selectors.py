"""Reads behind the network pages: the policy said in words, the newest checkpoint seen of each
peer in two queries, key fingerprints as the CLI prints them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from federation import selectors
from federation.peers import add_peer, fingerprint
from federation.seen import remember
from ledger import note
from ledger.policy import parse_policy
from tests.federation.peer_log import PeerLog


def _key() -> str:
    return note.generate(note.ALG_COSIG_V1)[0].hex()


def test_a_nested_policy_is_said_in_words():
    text = (
        f"witness a {_key()}\nwitness b {_key()}\nwitness c {_key()}\nwitness d {_key()}\n"
        "group east any a b\ngroup all-of 2 east c d\nquorum all-of\n"
    )
    q = selectors.describe_policy(parse_policy(text), "policy file")
    assert (q.k, q.n, q.witnesses) == (2, 3, ("a", "b", "c", "d"))
    assert q.text == "2 of 3 (1 of 2 (a, b), c, d)"


def test_a_single_witness_or_none_is_said_too():
    one = selectors.describe_policy(parse_policy(f"witness a {_key()}\nquorum a\n"), "policy file")
    assert (one.k, one.n, one.text) == (1, 1, "1 of 1 (a)")
    none = selectors.describe_policy(parse_policy("quorum none\n"), "majority of the witness peers")
    assert (none.k, none.n) == (0, 0) and "no checkpoint is witnessed" in none.text


def test_a_fingerprint_is_the_one_the_cli_prints():
    pk, _ = note.generate(note.ALG_ED25519)
    vkey = note.vkey("hospital-b.example/ledger", note.ALG_ED25519, pk)
    fp = selectors.key_fingerprint(vkey, "log")
    v = note.parse_vkey(vkey)
    assert (fp.name, fp.key_id, fp.algorithm, fp.sha256, fp.purpose) == (
        "hospital-b.example/ledger",
        v.key_id_hex,
        "ed25519",
        fingerprint(v),
        "log",
    )
    with pytest.raises(note.NoteError):
        selectors.key_fingerprint("hospital-b.example/ledger+00000000+AAAA")


@pytest.mark.django_db
def test_peers_overview_shows_the_newest_seen_checkpoint_in_two_queries(settings):
    settings.LEDGER_ORIGIN = "hospital-a.example/ledger"
    logs = [PeerLog(f"hospital-{c}.example/ledger", leaves=3) for c in "bcd"]
    for log in logs:
        peer = add_peer(origin=log.origin, vkeys=log.vkeys, role="log")
        for size in (1, 3, 2):
            signed = log.checkpoint(size)
            remember(peer, note.parse_checkpoint(note.split_note(signed)[0]), signed, source="fetched")
    with CaptureQueriesContext(connection) as ctx:
        rows = selectors.peers_overview()
    assert len(ctx.captured_queries) == 2
    assert [(r.peer.origin, r.last_seen.tree_size, r.evidence) for r in rows] == [
        (log.origin, 3, 0) for log in logs
    ]
    assert all(r.cosigned_size is None and r.pushed_size is None for r in rows)
