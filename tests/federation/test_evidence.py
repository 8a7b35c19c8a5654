"""record_evidence: only real contradictions signed by the log, stored once, on the ledger with no
health data, the peer no longer trusted; evidence_json checks offline."""

import base64
import json

import pytest

from federation.evidence import evidence_json, record_evidence
from federation.models import Evidence, Peer
from federation.peers import add_peer
from ledger import equivocation, note
from ledger.models import PendingEvent
from tests.federation.peer_log import PeerLog

pytestmark = pytest.mark.django_db

ORIGIN = "hospital-b.example/ledger"


@pytest.fixture
def log(settings):
    settings.LEDGER_ORIGIN = "hospital-a.example/ledger"
    log = PeerLog(ORIGIN, leaves=9)
    log.peer = add_peer(origin=ORIGIN, vkeys=log.vkeys, role="log")
    return log


def events():
    return list(PendingEvent.objects.filter(event_type="federation.equivocation"))


def test_consistent_checkpoints_are_no_evidence(log):
    small, large = log.checkpoint(5), log.checkpoint(9)
    assert (
        record_evidence(
            peer=log.peer, first_note=small, second_note=large, proof=log.proof(5, 9), via="monitor"
        )
        is None
    )
    assert (
        record_evidence(peer=log.peer, first_note=small, second_note=small, proof=None, via="monitor") is None
    )
    assert not Evidence.objects.exists() and not events() and Peer.objects.get().trusted


def test_unsigned_or_forged_input_is_no_evidence(log):
    impostor = PeerLog(ORIGIN, leaves=9).fork(at=0)  # other keys, other tree
    forged = impostor.checkpoint(9)
    assert (
        record_evidence(
            peer=log.peer, first_note=log.checkpoint(9), second_note=forged, proof=None, via="gossip"
        )
        is None
    )
    text, _ = note.split_note(forged)
    assert (
        record_evidence(
            peer=log.peer, first_note=log.checkpoint(9), second_note=text, proof=None, via="gossip"
        )
        is None
    )
    assert not Evidence.objects.exists() and Peer.objects.get().trusted


def test_a_wrong_proof_is_no_evidence(log):
    fork = log.fork(at=2)
    got = record_evidence(
        peer=log.peer,
        first_note=log.checkpoint(5),
        second_note=fork.checkpoint(9),
        proof=[bytes(32)] * 4,
        via="monitor",
    )
    assert got is None and Peer.objects.get().trusted


def test_same_size_is_stored_once_recorded_and_the_peer_untrusted(log):
    first, second = log.checkpoint(9), log.fork(at=4).checkpoint(9)
    ev = record_evidence(peer=log.peer, first_note=first, second_note=second, proof=None, via="monitor")
    assert ev is not None and ev.kind == "same-size" and ev.detected_via == "monitor"
    again = record_evidence(peer=log.peer, first_note=second, second_note=first, proof=None, via="gossip")
    assert again.pk == ev.pk and Evidence.objects.count() == 1
    peer = Peer.objects.get()
    assert not peer.trusted and f"evidence #{ev.pk}" in peer.untrusted_reason
    (event,) = events()
    assert ev.ledger_event_id == event.event_id
    payload = json.loads(event.payload) if isinstance(event.payload, str) else event.payload
    assert payload == {
        "log_origin": ORIGIN,
        "kind": "same-size",
        "first_size": 9,
        "first_root": log.root(9).hex(),
        "second_size": 9,
        "second_root": log.fork(at=4).root(9).hex(),
        "evidence_id": ev.pk,
        "via": "monitor",
    }


def test_a_fork_shown_by_its_proof_is_inconsistent_evidence(log):
    fork = log.fork(at=3)
    small, large = log.checkpoint(5), fork.checkpoint(9)
    ev = record_evidence(
        peer=log.peer, first_note=large, second_note=small, proof=fork.proof(5, 9), via="monitor"
    )
    assert ev is not None and ev.kind == "inconsistent"
    assert (ev.first_note, ev.second_note) == (small, large)  # the smaller first
    assert ev.proof.split("\n") == [base64.b64encode(h).decode() for h in fork.proof(5, 9)]


def test_evidence_json_checks_offline_with_the_logs_keys(log):
    fork = log.fork(at=3)
    ev = record_evidence(
        peer=log.peer,
        first_note=log.checkpoint(5),
        second_note=fork.checkpoint(9),
        proof=fork.proof(5, 9),
        via="monitor",
    )
    data = json.loads(json.dumps(evidence_json(ev)))  # survives a download
    assert data["origin"] == ORIGIN and data["detected_via"] == "monitor"
    assert data["log_keys"] == log.vkeys
    keys = [note.parse_vkey(k) for k in data["log_keys"]]
    checked = equivocation.verify_evidence(data["evidence"], keys)
    assert checked.kind == "inconsistent"
    with pytest.raises(equivocation.EvidenceError):
        equivocation.verify_evidence(data["evidence"], PeerLog(ORIGIN).verifiers)


def test_an_unknown_detection_path_is_a_programming_error(log):
    with pytest.raises(ValueError):
        record_evidence(peer=log.peer, first_note="", second_note="", proof=None, via="rumour")
