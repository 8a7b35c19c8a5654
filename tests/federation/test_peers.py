"""Adding peers: keys sorted into log and witness keys, nonsense refused with a clear message,
the same input twice changes nothing."""

import pytest

from federation.models import Peer, PeerKey
from federation.peers import (
    add_peer,
    fingerprint,
    log_verifiers,
    mark_untrusted,
    parse_vkeys,
    trusted_peer,
    witness_verifiers,
)
from ledger import note
from tests.federation.peer_log import PeerLog

pytestmark = pytest.mark.django_db

ORIGIN = "hospital-b.example/ledger"


def witness_key(name="hospital-b.example/witness", alg=note.ALG_COSIG_V1) -> str:
    pk, _ = note.generate(alg)
    return note.vkey(name, alg, pk)


@pytest.fixture
def log():
    return PeerLog(ORIGIN, algorithms=(note.ALG_ED25519, note.ALG_MLDSA, note.ALG_FALCON))


def test_keys_are_sorted_into_log_and_witness_keys(log):
    wk = [witness_key(), witness_key(alg=note.ALG_MLDSA)]
    peer = add_peer(origin=ORIGIN, vkeys=log.vkeys + wk, url="https://b.example/", name="Hospital B")
    assert (peer.origin, peer.url, peer.role, peer.name, peer.trusted) == (
        ORIGIN,
        "https://b.example",
        "both",
        "Hospital B",
        True,
    )
    assert [v.vkey for v in log_verifiers(peer)] == log.vkeys
    assert [v.vkey for v in witness_verifiers(peer)] == wk
    row = PeerKey.objects.get(vkey=wk[0])
    assert (row.purpose, row.name, row.algorithm) == (
        "witness",
        "hospital-b.example/witness",
        "cosignature/v1",
    )
    assert row.key_id == note.parse_vkey(wk[0]).key_id_hex


def test_the_same_input_twice_changes_nothing(log):
    args = dict(origin=ORIGIN, vkeys=log.vkeys, role="log")
    first = add_peer(**args)
    second = add_peer(**args)
    assert first.pk == second.pk
    assert Peer.objects.count() == 1
    assert PeerKey.objects.count() == len(log.vkeys)


def test_new_keys_join_the_ones_a_peer_had(log):
    add_peer(origin=ORIGIN, vkeys=log.vkeys[:1], role="log")
    peer = add_peer(origin=ORIGIN, vkeys=log.vkeys[1:] + [witness_key()], role="both")
    assert peer.role == "both"
    assert len(log_verifiers(peer)) == 3 and len(witness_verifiers(peer)) == 1


@pytest.mark.parametrize(
    "vkeys, role, message",
    [
        ("NONE", "log", "at least one key"),
        ("GARBAGE", "log", "malformed verifier key"),
        ("LOG_OTHER", "log", "not for the origin"),
        ("DUPLICATE", "log", "given twice"),
        ("WITNESS_ONLY", "log", "needs a log key"),
        ("LOG_ONLY", "witness", "needs a witness key"),
        ("LOG_ONLY", "both", "needs a witness key"),
        ("LOG_ONLY", "boss", "role must be one of"),
    ],
)
def test_nonsense_is_refused_with_a_message(log, vkeys, role, message):
    other = PeerLog("hospital-c.example/ledger")
    given = {
        "LOG_OTHER": other.vkeys[:1],
        "DUPLICATE": [log.vkeys[0], log.vkeys[0] + "\n"],
        "WITNESS_ONLY": [witness_key()],
        "LOG_ONLY": log.vkeys,
        "NONE": [],
        "GARBAGE": ["nonsense"],
    }[vkeys]
    with pytest.raises(ValueError, match=message):
        add_peer(origin=ORIGIN, vkeys=given, role=role)
    assert not Peer.objects.exists()


def test_a_key_id_that_does_not_match_is_refused(log):
    name, _, b64 = log.vkeys[0].split("+", 2)
    with pytest.raises(ValueError, match="key id does not match"):
        add_peer(origin=ORIGIN, vkeys=[f"{name}+00000000+{b64}"], role="log")


@pytest.mark.parametrize(
    "origin, url, message",
    [
        ("", "", "origin must be"),
        ("has space/ledger", "", "origin must be"),
        ("a+b/ledger", "", "origin must be"),
        ("x" * 256, "", "origin must be"),
        ("hospital-a.example/ledger", "", "this node's own log"),
        (ORIGIN, "ftp://b.example", "http"),
        (ORIGIN, "javascript:alert(1)", "http"),
    ],
)
def test_bad_origin_or_url_is_refused(settings, log, origin, url, message):
    settings.LEDGER_ORIGIN = "hospital-a.example/ledger"
    with pytest.raises(ValueError, match=message):
        add_peer(origin=origin, vkeys=log.vkeys, url=url, role="log")


def test_a_witness_key_of_another_peer_is_refused(log):
    wk = witness_key()
    add_peer(origin=ORIGIN, vkeys=log.vkeys + [wk])
    other = PeerLog("hospital-c.example/ledger")
    with pytest.raises(ValueError, match="already belongs to hospital-b"):
        add_peer(origin=other.origin, vkeys=other.vkeys + [wk])


def test_an_untrusted_peer_is_not_trusted_again_by_adding_it(log):
    peer = add_peer(origin=ORIGIN, vkeys=log.vkeys, role="log")
    mark_untrusted(peer, "same-size evidence #1")
    assert trusted_peer(ORIGIN) is None
    again = add_peer(origin=ORIGIN, vkeys=log.vkeys, role="log")
    assert not again.trusted and again.untrusted_reason == "same-size evidence #1"


def test_fingerprints_differ_per_key_and_are_stable(log):
    prints = [fingerprint(v) for v in log.verifiers]
    assert len(set(prints)) == 3
    assert all(p.startswith("SHA256:") and len(p) == 7 + 43 for p in prints)
    assert prints == [fingerprint(note.parse_vkey(v)) for v in log.vkeys]


def test_parse_vkeys_keeps_the_order_given(log):
    wk = witness_key()
    assert [p for p, _ in parse_vkeys(ORIGIN, [wk, *log.vkeys])] == ["witness", "log", "log", "log"]
