"""POST /witness/add-checkpoint over HTTP, as c2sp.org/tlog-witness says, trying to break it."""

import random
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from federation import keys
from federation.models import Evidence, Peer, SeenCheckpoint, WitnessedLog
from federation.peers import add_peer
from ledger import note, witness_protocol
from tests.federation.peer_log import PeerLog

ORIGIN = "hospital-b.example/ledger"
URL = "/witness/add-checkpoint"


@pytest.fixture
def node(settings):
    settings.LEDGER_ORIGIN = "hospital-a.example/ledger"
    settings.FEDERATION_WITNESS_NAME = "hospital-a.example/witness"
    keys._signer_cache.clear()
    return settings


@pytest.fixture
def log(db, node):
    log = PeerLog(ORIGIN, leaves=5)
    add_peer(origin=ORIGIN, vkeys=log.vkeys, role="log")
    return log


def post(body: bytes, client=None, **extra):
    return (client or Client()).post(URL, data=body, content_type="text/plain", **extra)


def cosigned_by_us(response, checkpoint: str) -> list[tuple[str, int | None]]:
    lines = witness_protocol.parse_cosignatures(response.content)
    signed = note.add_signatures(checkpoint, lines)
    return [(v.algorithm, ts) for v, ts in note.verified_signatures(signed, keys.witness_verifiers())]


def state() -> tuple[int, bytes]:
    s = WitnessedLog.objects.get(peer__origin=ORIGIN)
    return s.size, bytes(s.root_hash)


def test_the_url_is_the_specs():
    assert reverse("witness-add-checkpoint") == URL


def test_first_checkpoint_is_cosigned_with_both_witness_keys(log):
    cp = log.checkpoint()
    before = int(time.time())
    r = post(log.body(0, checkpoint=cp), Client(enforce_csrf_checks=True))  # no CSRF token, no session
    assert r.status_code == 200, r.content
    assert r["Content-Type"] == "text/plain; charset=utf-8"
    got = cosigned_by_us(r, cp)
    assert [alg for alg, _ in got] == [note.ALG_COSIG_V1, note.ALG_MLDSA]
    assert all(before <= ts <= int(time.time()) for _, ts in got)
    assert state() == (5, log.root())
    assert WitnessedLog.objects.get().checkpoint == cp
    seen = SeenCheckpoint.objects.get()
    assert (seen.tree_size, bytes(seen.root_hash), seen.source, seen.note) == (5, log.root(), "pushed", cp)


def test_it_advances_with_a_consistency_proof_and_cosigns_the_same_again(log):
    assert post(log.body(0)).status_code == 200
    log.grow(4)
    assert post(log.body(5)).status_code == 200
    assert state() == (9, log.root())
    log.grow(23)
    assert post(log.body(9)).status_code == 200
    cp = log.checkpoint()
    r = post(log.body(32, checkpoint=cp))  # old == size, same root: cosigned again, no proof
    assert r.status_code == 200 and len(cosigned_by_us(r, cp)) == 2
    assert state() == (32, log.root())


def test_unknown_origin_is_404(log):
    other = PeerLog("hospital-z.example/ledger", leaves=3)
    r = post(other.body(0))
    assert r.status_code == 404 and b"hospital-z.example/ledger" in r.content
    assert r["Content-Type"].startswith("text/plain")


def test_an_untrusted_peer_or_one_we_do_not_witness_is_404(log, node):
    Peer.objects.filter(origin=ORIGIN).update(trusted=False)
    assert post(log.body(0)).status_code == 404
    witness_only = PeerLog("hospital-w.example/ledger", leaves=2)
    wk = note.vkey("hospital-w.example/witness", note.ALG_COSIG_V1, note.generate(note.ALG_COSIG_V1)[0])
    add_peer(origin=witness_only.origin, vkeys=witness_only.vkeys + [wk], role="witness")
    assert post(witness_only.body(0)).status_code == 404


def test_forged_or_tampered_signatures_are_403(log):
    impostor = PeerLog(ORIGIN)  # same origin, its own keys
    impostor.leaves = list(log.leaves)
    r = post(impostor.body(0))
    assert r.status_code == 403 and b"not signed by this log's trusted keys" in r.content
    # the log's own signatures on another root
    good = log.checkpoint()
    text, _ = note.split_note(good)
    lied = good.replace(text, note.checkpoint_text(ORIGIN, 5, bytes(32)))
    assert post(log.body(0, checkpoint=lied)).status_code == 403
    # a valid Ed25519 line next to a broken line of the log's ML-DSA key: refused, like Go's note.Open
    ed, ml = log.signers
    half = log.checkpoint(signers=[ed])
    broken_ml = note.signature_lines(note.checkpoint_text(ORIGIN, 4, log.root(4)), [ml], timestamp=1)
    assert post(log.body(0, checkpoint=note.add_signatures(half, broken_ml))).status_code == 403
    assert not WitnessedLog.objects.filter(size__gt=0).exists()


def test_unknown_signatures_are_ignored(log):
    stranger = note.Signer("someone.example/log", note.ALG_ED25519, *note.generate(note.ALG_ED25519))
    cp = log.checkpoint()
    text, _ = note.split_note(cp)
    extra = note.add_signatures(cp, note.signature_lines(text, [stranger]))
    assert post(log.body(0, checkpoint=extra)).status_code == 200


def test_stale_old_is_409_with_the_size(log):
    assert post(log.body(0)).status_code == 200
    log.grow(4)
    for old in (0, 3, 7):
        r = post(log.body(old))
        assert r.status_code == 409
        assert r["Content-Type"] == "text/x.tlog.size"
        assert witness_protocol.parse_size(r.content) == 5 and r.content == b"5\n"
    assert state() == (5, log.root(5))
    assert not Evidence.objects.exists() and Peer.objects.get().trusted


def test_a_bad_proof_is_422_and_not_cosigned(log):
    assert post(log.body(0)).status_code == 200
    log.grow(4)
    rng = random.Random(7)
    for proof in (
        [rng.randbytes(32) for _ in log.proof(5)],
        log.proof(5)[:-1],
        [*log.proof(5), bytes(32)],
        [],
    ):
        r = post(log.body(5, proof=proof))
        assert r.status_code == 422, proof
        assert b"consistency proof" in r.content
    assert state() == (5, log.root(5))
    # a wrong proof proves nothing about the log: no evidence, still trusted
    assert not Evidence.objects.exists() and Peer.objects.get().trusted


def test_old_beyond_the_checkpoint_is_400(log):
    r = post(log.body(6, 5, proof=[]))
    assert r.status_code == 400 and b"greater than the checkpoint size" in r.content


def test_same_size_other_root_is_refused_and_recorded_as_evidence(log):
    first = log.checkpoint()
    assert post(log.body(0, checkpoint=first)).status_code == 200
    fork = log.fork(at=2)
    second = fork.checkpoint()
    r = post(fork.body(5, checkpoint=second))
    assert r.status_code == 409 and r["Content-Type"] == "text/x.tlog.size" and r.content == b"5\n"
    assert state() == (5, log.root())  # never two roots at one size
    ev = Evidence.objects.get()
    assert (ev.kind, ev.first_note, ev.second_note, ev.detected_via) == (
        "same-size",
        first,
        second,
        "add-checkpoint",
    )
    peer = Peer.objects.get()
    assert not peer.trusted and f"#{ev.pk}" in peer.untrusted_reason
    assert post(log.grow(1).body(5)).status_code == 404  # a lying log gets nothing more


def test_a_fork_with_its_own_proof_is_422_and_evidence(log):
    assert post(log.body(0)).status_code == 200
    fork = log.grow(6).fork(at=3)  # the log rewrites leaves 3.. and signs the result
    r = post(fork.body(5))  # the fork's own, valid-looking RFC 9162 proof from 5 to 11
    assert r.status_code == 422
    ev = Evidence.objects.get()
    assert ev.kind == "inconsistent" and not Peer.objects.get().trusted
    assert state() == (5, log.root(5))


def test_a_rollback_signed_later_is_evidence(log):
    t = int(time.time())
    assert post(log.grow(4).body(0, checkpoint=log.checkpoint(9, timestamp=t))).status_code == 200
    older_later = log.checkpoint(5, timestamp=t + 100)  # the smaller tree, signed after the larger
    r = post(log.body(0, 5, checkpoint=older_later))
    assert r.status_code == 409 and r.content == b"9\n"
    assert Evidence.objects.get().kind == "rollback"


def test_a_late_push_of_an_older_checkpoint_is_only_409(log):
    t = int(time.time())
    early = log.checkpoint(5, timestamp=t - 100)
    assert post(log.grow(4).body(0, checkpoint=log.checkpoint(9, timestamp=t))).status_code == 200
    assert post(log.body(0, 5, checkpoint=early)).status_code == 409
    assert not Evidence.objects.exists() and Peer.objects.get().trusted


@pytest.mark.parametrize("log_clock", [0, 1, 2**33, 2**62])
def test_the_cosignature_carries_the_witness_clock_whatever_the_logs(log, log_clock):
    cp = log.checkpoint(timestamp=log_clock)
    before = int(time.time())
    r = post(log.body(0, checkpoint=cp))
    assert r.status_code == 200
    stamps = [ts for _, ts in cosigned_by_us(r, cp)]
    assert len(stamps) == 2 and all(before <= ts <= int(time.time()) for ts in stamps)


def test_other_methods_are_405(log):
    for method in ("get", "put", "delete"):
        r = getattr(Client(), method)(URL)
        assert r.status_code == 405 and r["Allow"] == "POST"


def _garbage(log: PeerLog) -> dict[str, bytes]:
    cp = log.checkpoint()
    good = log.body(0, checkpoint=cp)
    rng = random.Random(21)
    text, _ = note.split_note(cp)
    return {
        "empty": b"",
        "only old": b"old 0\n",
        "no old line": b"\n" + cp.encode(),
        "old without size": b"old \n\n" + cp.encode(),
        "negative old": b"old -1\n\n" + cp.encode(),
        "leading zero": b"old 00\n\n" + cp.encode(),
        "old 2**64": f"old {2**64}\n\n".encode() + cp.encode(),
        "old not a number": b"old five\n\n" + cp.encode(),
        "CRLF": good.replace(b"\n", b"\r\n"),
        "not UTF-8": b"old 0\n\n\xff\xfe" + cp.encode(),
        "proof not base64": b"old 0\n!!!!\n\n" + cp.encode(),
        "proof short hash": b"old 0\nAAAA\n\n" + cp.encode(),
        "64 proof lines": b"old 0\n"
        + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64
        + b"\n"
        + cp.encode(),
        "no blank line": b"old 0\n" + cp.encode(),
        "note without signatures": b"old 0\n\n" + text.encode(),
        "note without final newline": good[:-1],
        "not a checkpoint": b"old 0\n\nhello\n\n\xe2\x80\x94 x AAAAAAAA\n",
        "root not base64": b"old 0\n\n" + cp.replace(text.split("\n")[2], "%%%").encode(),
        "too large": b"old 0\n" + b"A" * (1 << 20) + b"\n\n" + cp.encode(),
        "random": rng.randbytes(300),
        "random lines": b"\n".join(rng.randbytes(20) for _ in range(8)),
        "control characters": b"old 0\n\n" + cp.replace("\n\n", "\n\x00\n").encode(),
    }


def test_malformed_bodies_are_400_never_500(log):
    for name, body in _garbage(log).items():
        r = post(body)  # the test client raises if the view crashes
        assert r.status_code == 400, f"{name}: {r.status_code} {r.content[:200]!r}"
        assert r["Content-Type"].startswith("text/plain"), name
    assert not WitnessedLog.objects.filter(size__gt=0).exists()


def test_mutated_requests_never_500(log):
    assert post(log.body(0)).status_code == 200
    base = log.grow(3).body(5)
    rng = random.Random(5)
    statuses = set()
    for _ in range(60):
        body = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        statuses.add(post(bytes(body)).status_code)
    assert statuses <= {200, 400, 403, 404, 409, 422}
    assert WitnessedLog.objects.get().size in (5, 8)


def test_requests_are_throttled_per_client_address(log, node):
    node.FEDERATION_WITNESS_PER_MINUTE = 3
    address = f"198.51.100.{random.randrange(1, 255)}"
    body = log.body(0, checkpoint=log.checkpoint())
    # 7 requests fall in at most two windows, one of which then holds more than 3
    codes = [post(body, REMOTE_ADDR=address).status_code for _ in range(7)]
    assert 429 in codes
    r = post(body, REMOTE_ADDR=address)
    if r.status_code == 429:
        assert r["Retry-After"] == "60" and b"too many" in r.content


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_calls_from_the_same_old_size_one_wins(node, monkeypatch):
    # widen the window between reading the witness's state and storing the new one, so that
    # without the row lock both calls would read the same old size and both be cosigned
    check = witness_protocol.check_request

    def slow_check(*args, **kwargs):
        time.sleep(0.3)
        return check(*args, **kwargs)

    monkeypatch.setattr(witness_protocol, "check_request", slow_check)
    log = PeerLog(ORIGIN, leaves=5)
    add_peer(origin=ORIGIN, vkeys=log.vkeys, role="log")
    assert post(log.body(0)).status_code == 200
    for round_ in range(3):
        old = log.size
        log.grow(4 + round_)
        bodies = [log.body(old, old + 2), log.body(old)]  # two different sizes, both from `old`
        barrier = threading.Barrier(2)
        results: dict[int, tuple[int, bytes]] = {}

        def call(i: int, body: bytes, barrier=barrier, results=results) -> None:
            try:
                barrier.wait()
                r = post(body)
                results[i] = (r.status_code, r.content)
            finally:
                connection.close()

        threads = [threading.Thread(target=call, args=(i, bodies[i])) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(code for code, _ in results.values())
        assert codes == [200, 409], results
        winner = next(i for i, (code, _) in results.items() if code == 200)
        loser_body = next(body for code, body in results.values() if code == 409)
        won_size = old + 2 if winner == 0 else log.size
        assert state() == (won_size, log.root(won_size))
        assert loser_body == f"{won_size}\n".encode()
        if won_size != log.size:  # catch up, as a log would after its 409
            assert post(log.body(won_size)).status_code == 200
