"""Pushing this node's checkpoints to its witnesses over real HTTP (c2sp.org/tlog-witness, log
side): cosignatures verified and stored, the witness's 409 answered from the size it names,
a witness that is down retried and caught up, forged cosignature lines rejected, and the push
after each checkpoint done by a real Celery worker."""

from __future__ import annotations

import logging

import pytest

from federation import http, push, tasks
from federation.models import Cosignature, WitnessedCheckpoint, WitnessedLog, WitnessPush
from ledger import note
from tests.conftest import wait_for
from tests.federation.logside import (
    LIVE_WITNESS_NAME,
    grow_log,
    live_witness_peer,
    log_verifiers,
    server_peer,
    trust_our_log_at_our_witness,
)
from tests.federation.witness_server import WitnessServer


@pytest.fixture(autouse=True)
def _no_kept_alive_connections():
    yield
    http.close()  # else live_server's thread keeps serving it, with a database connection open


@pytest.fixture
def live_witness(live_server, settings):
    settings.FEDERATION_WITNESS_NAME = LIVE_WITNESS_NAME
    return live_witness_peer(live_server.url)


@pytest.fixture(autouse=True)
def _pushes_only_from_the_test(request, monkeypatch):
    """These tests push with `push.push_all()` and assert what each push did; the session's real
    worker (running once any earlier test asked for it) would otherwise also push each new
    checkpoint through the `on_checkpoint` task, racing them. The worker test keeps the hook."""
    if "celery_worker" not in request.fixturenames:
        from ledger import services

        monkeypatch.setattr(services, "_checkpoint_listeners", [])


@pytest.fixture
def servers():
    started: list[WitnessServer] = []

    def make(name: str, **kw) -> WitnessServer:
        started.append(WitnessServer(name, log_verifiers(), **kw))
        return started[-1]

    yield make
    for s in started:
        s.stop()


def _closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now: connection refused


def test_push_collects_verified_cosignatures_and_witnesses_the_checkpoint(live_witness):
    cp = grow_log(5)
    [result] = push.push_all()
    assert (result.ok, result.accepted, result.rejected, result.tree_size) == (True, 2, 0, 5)
    rows = list(Cosignature.objects.filter(checkpoint=cp, peer=live_witness))
    assert sorted(r.algorithm for r in rows) == [note.ALG_COSIG_V1, note.ALG_MLDSA]
    assert all(r.timestamp and r.line.startswith(f"— {LIVE_WITNESS_NAME} ") for r in rows)
    state = WitnessPush.objects.get(peer=live_witness)
    assert (state.size, state.attempts, state.last_error) == (5, 0, "")
    assert state.last_success_at is not None
    # the witness side recorded it too
    assert WitnessedLog.objects.get(peer__origin=cp.note.split("\n")[0]).size == 5
    # one witness: the majority is that witness
    witnessed = WitnessedCheckpoint.objects.get(checkpoint=cp)
    from federation.peers import witness_verifiers

    cosigners = note.verified_signatures(witnessed.note, witness_verifiers(live_witness))
    assert {v.algorithm for v, _ in cosigners} == {note.ALG_COSIG_V1, note.ALG_MLDSA}
    note.open_note(witnessed.note, log_verifiers())  # still the log's signed checkpoint
    assert push.push_all() == []  # nothing left to push


def test_the_next_push_carries_a_consistency_proof_from_the_cosigned_size(live_witness):
    grow_log(5)
    push.push_all()
    cp = grow_log(8)  # size 13
    [result] = push.push_all()
    assert result.ok and result.tree_size == 13
    assert WitnessPush.objects.get(peer=live_witness).size == 13
    assert WitnessedLog.objects.get(peer__origin=cp.note.split("\n")[0]).size == 13


@pytest.mark.parametrize("ours", [0, 3, 11])
def test_a_stale_old_size_gets_409_and_the_push_is_resent_from_the_witness_size(ours, servers, db):
    grow_log(5)
    w = servers("w-stale.test/witness")
    peer = server_peer(w, "w-stale.test/ledger")
    push.push_all()
    grow_log(6)  # size 11
    # our record of the witness is wrong: behind it (0), a size it never cosigned (3), ahead (11)
    WitnessPush.objects.filter(peer=peer).update(size=ours)
    [result] = push.push_all()
    assert result.ok, result.error
    assert w.statuses == [200, 409, 200]
    assert (w.size, WitnessPush.objects.get(peer=peer).size) == (11, 11)


def test_a_witness_that_is_down_is_retried_and_catches_up_when_back(servers, db):
    cp = grow_log(5)
    w = servers("w-down.test/witness")
    peer = server_peer(w, "w-down.test/ledger")
    w.stop()
    for attempt in (1, 2):
        [result] = push.push_all()
        assert (result.ok, result.retryable) == (False, True)
        state = WitnessPush.objects.get(peer=peer)
        assert state.attempts == attempt and "refused" in state.last_error
    assert not Cosignature.objects.exists() and not WitnessedCheckpoint.objects.exists()
    w.start()  # back, on the same address
    out = tasks.push_pending_task.apply().get()
    assert out == {"cosigned": ["w-down.test/ledger"], "failed": {}}
    assert WitnessPush.objects.get(peer=peer).attempts == 0
    assert WitnessedCheckpoint.objects.get(checkpoint=cp).tree_size == 5


def test_the_push_task_retries_with_backoff_while_a_witness_is_unreachable(db, settings):
    grow_log(3)
    from federation.peers import add_peer

    pk, _ = note.generate(note.ALG_COSIG_V1)
    peer = add_peer(
        origin="w-gone.test/ledger",
        vkeys=[note.vkey("w-gone.test/witness", note.ALG_COSIG_V1, pk)],
        url=_closed_port_url(),
        role="witness",
    )
    result = tasks.push_checkpoint_task.apply()  # eager: Celery runs each retry at once
    assert result.failed()
    retries = tasks.push_checkpoint_task.max_retries
    assert WitnessPush.objects.get(peer=peer).attempts == retries + 1
    assert tasks.push_checkpoint_task.retry_backoff and tasks.push_checkpoint_task.retry_backoff_max == 600


def test_a_forged_cosignature_line_is_rejected_and_never_stored(servers, db, caplog):
    cp = grow_log(4)
    w = servers("w-forger.test/witness", forge=True)
    peer = server_peer(w, "w-forger.test/ledger")
    with caplog.at_level(logging.WARNING, logger="federation.push"):
        [result] = push.push_all()
    assert (result.ok, result.accepted, result.rejected) == (False, 0, 1)
    assert "do not verify" in caplog.text and "w-forger.test/ledger" in caplog.text
    assert not Cosignature.objects.filter(peer=peer).exists()
    assert not WitnessedCheckpoint.objects.filter(checkpoint=cp).exists()
    state = WitnessPush.objects.get(peer=peer)
    assert state.attempts == 1 and "no valid cosignature" in state.last_error
    w.forge = False  # the same witness, honest now: the next push is cosigned
    [result] = push.push_all()
    assert result.ok and result.accepted == 1


def test_quorum_two_of_three_is_met_only_by_the_second_witness(live_witness, servers, settings, tmp_path):
    from tests.federation.logside import policy_line

    cp = grow_log(6)
    second = servers("w-second.test/witness")
    forger = servers("w-third.test/witness", forge=True)
    server_peer(second, "w-second.test/ledger")
    server_peer(forger, "w-third.test/ledger")
    live_vkey = next(k.vkey for k in live_witness.keys.all() if k.algorithm == note.ALG_COSIG_V1)
    policy = tmp_path / "policy"
    policy.write_text(
        "\n".join(
            [
                policy_line(LIVE_WITNESS_NAME, live_vkey),
                policy_line(second.name, second.vkey),
                policy_line(forger.name, forger.vkey),
                f"group hospitals 2 {LIVE_WITNESS_NAME} {second.name} {forger.name}",
                "quorum hospitals",
            ]
        )
        + "\n"
    )
    settings.FEDERATION_POLICY_FILE = str(policy)
    second.stop()
    results = {r.peer: r for r in push.push_all()}
    assert results["witness-b.test/ledger"].ok
    assert results["w-second.test/ledger"].retryable
    assert results["w-third.test/ledger"].rejected == 1
    assert not WitnessedCheckpoint.objects.filter(checkpoint=cp).exists()  # 1 valid of 3
    second.start()
    tasks.push_pending_task.apply()
    witnessed = WitnessedCheckpoint.objects.get(checkpoint=cp)
    lines = [line for line in witnessed.note.split("\n") if line.startswith("—")]
    assert any(line.startswith(f"— {second.name} ") for line in lines)
    assert not any(line.startswith(f"— {forger.name} ") for line in lines)


@pytest.mark.worker
@pytest.mark.slow
def test_a_new_checkpoint_is_pushed_by_the_worker_after_it_commits(live_server, settings, celery_worker):
    settings.FEDERATION_WITNESS_NAME = LIVE_WITNESS_NAME
    grow_log(2)  # the log keys exist before the witness trusts them
    peer = live_witness_peer(live_server.url)
    trust_our_log_at_our_witness()
    cp = grow_log(3)  # committed: on_commit enqueues federation.push_checkpoint
    wait_for(lambda: WitnessedCheckpoint.objects.filter(checkpoint=cp).exists(), timeout=60, what="the push")
    assert Cosignature.objects.filter(checkpoint=cp, peer=peer).count() == 2
