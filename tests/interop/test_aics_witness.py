"""Our log's checkpoints against an independent tlog-witness (aics-witness 0.1.0), and our note
code against what that witness and its log side (aics_witness.feeder) produce.

No Django here: the log is `ledger.merkle` over in-memory entries, its checkpoints are signed
notes written with plain `cryptography` (tests/interop/c2sp_plain.py) or, for the three-type
checkpoint a QMedChain node publishes, with `ledger.note`.
"""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle, note
from tests.interop import aics
from tests.interop import c2sp_plain as c2sp

pytestmark = pytest.mark.interop

ORIGIN = "hospital-a.example/ledger"
WITNESS = "aics-witness.example/w1"


def _leaves(n: int, tag: str = "entry") -> list[bytes]:
    return [merkle.leaf_hash(f"{tag} {i}\n".encode()) for i in range(n)]


def _witness_verifier(w: aics.AicsWitness) -> note.Verifier:
    v = note.parse_vkey(w.vkey)
    assert v.algorithm == note.ALG_COSIG_V1 and v.name == WITNESS
    return v


@pytest.fixture
def log_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def witness(aics_witness_factory, log_key):
    return aics_witness_factory(
        WITNESS, {ORIGIN: [c2sp.vkey(ORIGIN, c2sp.ED25519, c2sp.public_bytes(log_key))]}
    )


def test_their_witness_cosigns_our_checkpoints_and_our_note_code_verifies_the_cosignatures(witness, log_key):
    leaves = _leaves(12)
    wv = _witness_verifier(witness)
    cosigned = []
    for old, size in ((0, 5), (5, 12)):
        cp = c2sp.signed_checkpoint(ORIGIN, size, merkle.root(leaves[:size]), log_key)
        proof = merkle.consistency_proof(leaves, old, size) if old else []
        before = int(time.time())
        resp = witness.add_checkpoint(c2sp.add_checkpoint_body(old, proof, cp))
        assert resp.status_code == 200, resp.text
        [line] = resp.text.splitlines(keepends=True)
        text = cp[: cp.index("\n\n") + 1]

        # 1. the spec, by hand (c2sp_plain): key ID, u64 timestamp, Ed25519 over the header + text
        ts = c2sp.verify_cosignature_line(line, text, witness.vkey)
        assert before - 1 <= ts <= int(time.time()) + 1

        # 2. our ledger.note (ALG_COSIG_V1): the line merged into the note verifies, and so does
        #    the log's own Ed25519 signature; a cosignature moved to the other checkpoint does not
        merged = note.add_signatures(cp, [line])
        log_v = note.Verifier(ORIGIN, note.ALG_ED25519, c2sp.public_bytes(log_key))
        got = note.verified_signatures(merged, [log_v, wv])
        assert [(v.algorithm, t) for v, t in got] == [(note.ALG_ED25519, None), (note.ALG_COSIG_V1, ts)]
        sig = note.parse_signature_line(line.rstrip("\n")).signature
        assert wv.verify(text, sig)
        cosigned.append((text, sig))
    (text5, sig5), (text12, _) = cosigned
    assert not wv.verify(text12, sig5)

    [state] = witness.status()["logs"]
    assert (state["origin"], state["size"], state["evidence"]) == (ORIGIN, 12, 0)
    assert state["root"] == c2sp.b64(merkle.root(leaves))


def test_their_witness_answers_a_stale_old_size_with_409_and_a_bad_proof_with_422(witness, log_key):
    """The two answers our log's push must handle: 409 names the size to prove from; 422 is final."""
    leaves = _leaves(20)
    cp8 = c2sp.signed_checkpoint(ORIGIN, 8, merkle.root(leaves[:8]), log_key)
    assert witness.add_checkpoint(c2sp.add_checkpoint_body(0, [], cp8)).status_code == 200

    cp20 = c2sp.signed_checkpoint(ORIGIN, 20, merkle.root(leaves), log_key)
    stale = witness.add_checkpoint(c2sp.add_checkpoint_body(3, merkle.consistency_proof(leaves, 3, 20), cp20))
    assert (stale.status_code, stale.headers["content-type"], stale.text) == (409, "text/x.tlog.size", "8\n")

    proof = merkle.consistency_proof(leaves, 8, 20)
    proof[-1] = bytes(32)
    assert witness.add_checkpoint(c2sp.add_checkpoint_body(8, proof, cp20)).status_code == 422

    good = witness.add_checkpoint(c2sp.add_checkpoint_body(8, merkle.consistency_proof(leaves, 8, 20), cp20))
    assert good.status_code == 200, good.text
    [state] = witness.status()["logs"]
    assert (state["size"], state["evidence"]) == (20, 1)  # the bad proof was kept as evidence


def test_their_witness_cosigns_our_three_signature_checkpoint(aics_witness_factory):
    """A node's checkpoint as it publishes it: Ed25519 + ML-DSA-44 + Falcon-512 (ledger.note).

    Their witness knows only the Ed25519 key and must ignore the two post-quantum lines (types
    0x06 and 0xff...), as signed-note requires of unknown keys; their verifier likewise."""
    signers = []
    for alg in (note.ALG_ED25519, note.ALG_MLDSA, note.ALG_FALCON):
        public, private = note.generate(alg)
        signers.append(note.Signer(ORIGIN, alg, public, private))
    ed_vkey = signers[0].verifier().vkey
    witness = aics_witness_factory(WITNESS, {ORIGIN: [ed_vkey]}, prefix="/witness")  # where our push posts
    assert witness.url.endswith("/witness")
    leaves = _leaves(3)
    text = note.checkpoint_text(ORIGIN, 3, merkle.root(leaves))
    cp = note.sign_note(text, signers, timestamp=int(time.time()))
    assert len(note.split_note(cp)[1]) == 3

    resp = witness.add_checkpoint(c2sp.add_checkpoint_body(0, [], cp))
    assert resp.status_code == 200, resp.text
    merged = note.add_signatures(cp, resp.text.splitlines())
    _, ok = note.open_note(merged, [s.verifier() for s in signers] + [_witness_verifier(witness)])
    assert sorted(v.algorithm for v in ok) == sorted([*note.ALGORITHMS])

    theirs = aics.driver(
        "verify_checkpoint",
        note=merged,
        log_vkey=ed_vkey,
        witness_vkeys=[witness.vkey],
        quorum=1,
        origin=ORIGIN,
    )
    assert theirs["ok"], theirs
    assert (theirs["size"], theirs["witnesses"]) == (3, [WITNESS])


def test_their_log_side_feeds_a_witness_and_our_note_code_reads_the_result(aics_witness_factory):
    """aics_witness.feeder as a LOG (the driver's ``feed``): the same call, pointed at our
    ``/witness`` base URL, is how the lead checks our witness against their log. Here it feeds
    their own witness, and we check what a node would receive: the checkpoint text parses with
    ledger.note, its root is ledger.merkle's over the same entries, and both signatures verify."""
    seed = bytes(range(32))
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    origin = "aics-log.example/feed"
    witness = aics_witness_factory(WITNESS, {origin: [c2sp.vkey(origin, c2sp.ED25519, pub)]})
    entries = [f"message {i}\n".encode() for i in range(9)]
    fed = aics.driver(
        "feed",
        witness_url=witness.url,
        witness_vkey=witness.vkey,
        origin=origin,
        log_seed=seed.hex(),
        entries=[c2sp.b64(e) for e in entries],
        sizes=[4, 9],
    )
    assert fed["ok"], fed
    leaves = [merkle.leaf_hash(e) for e in entries]
    verifiers = [note.Verifier(origin, note.ALG_ED25519, pub), _witness_verifier(witness)]
    for step in fed["steps"]:
        text, signed_by = note.open_note(step["cosigned"], verifiers, require={note.ALG_COSIG_V1})
        cp = note.parse_checkpoint(text)
        assert (cp.origin, cp.size, cp.root) == (origin, step["size"], merkle.root(leaves[: step["size"]]))
        assert len(signed_by) == 2
