"""Evidence of a lying log: found from signed checkpoints, checked offline by anyone."""

import base64
import json

import pytest

from ledger import merkle, note
from ledger.equivocation import (
    Evidence,
    EvidenceError,
    check_pair,
    evidence_from_json,
    evidence_proof_nodes,
    evidence_to_json,
    verify_evidence,
)

pytestmark = pytest.mark.smoke

ORIGIN = "hospital-a.example/ledger"


@pytest.fixture(scope="module")
def log():
    """The log's Ed25519 (untimed) and ML-DSA-44 (timestamped) signers."""
    return [
        note.Signer(ORIGIN, note.ALG_ED25519, *note.generate(note.ALG_ED25519)),
        note.Signer(ORIGIN, note.ALG_MLDSA, *note.generate(note.ALG_MLDSA)),
    ]


@pytest.fixture(scope="module")
def keys(log):
    return [s.verifier() for s in log]


@pytest.fixture(scope="module")
def honest():
    return [merkle.leaf_hash(b"entry %d" % i) for i in range(16)]


@pytest.fixture(scope="module")
def fork(honest):
    """The same log with entry 2 rewritten: what a split view shows some clients."""
    return [*honest[:2], merkle.leaf_hash(b"rewritten"), *honest[3:]]


def signed(log, leaves, size, *, at=1_700_000_000, origin=ORIGIN):
    signers = [note.Signer(origin, s.algorithm, s.public_key, s.private_key) for s in log]
    return note.sign_note(
        note.checkpoint_text(origin, size, merkle.root(leaves[:size])), signers, timestamp=at
    )


def roundtrip(e: Evidence) -> dict:
    return json.loads(json.dumps(evidence_to_json(e)))


def test_same_size_different_roots(log, keys, honest, fork):
    a, b = signed(log, honest, 5), signed(log, fork, 5)
    e = check_pair(a, b, keys, None)
    assert e == Evidence("same-size", a, b)
    assert verify_evidence(roundtrip(e), keys) == e
    assert check_pair(a, signed(log, honest, 5, at=1_700_000_001), keys, None) is None


def test_inconsistent_with_a_proof_that_leads_to_the_larger_root(log, keys, honest, fork):
    small, large = signed(log, honest, 5), signed(log, fork, 12)
    proof = merkle.consistency_proof(fork, 5, 12)  # the forked log's own, valid proof
    e = check_pair(large, small, keys, proof)  # either order: evidence lists the smaller first
    assert e == Evidence("inconsistent", small, large, tuple(proof))
    assert verify_evidence(roundtrip(e), keys) == e
    # the honest continuation is consistent
    assert check_pair(small, signed(log, honest, 12), keys, merkle.consistency_proof(honest, 5, 12)) is None


def test_power_of_two_sizes_need_the_prefix_root_in_the_evidence(log, keys, honest, fork):
    small, large = signed(log, honest, 4), signed(log, fork, 12)
    rfc = merkle.consistency_proof(fork, 4, 12)
    with pytest.raises(merkle.ProofError):  # the RFC proof leaves the prefix root implied
        check_pair(small, large, keys, rfc)
    plan = evidence_proof_nodes(4, 12)
    assert plan[0] == [(2, 0)] and plan[1:] == merkle.consistency_nodes(4, 12)
    nodes = {n: merkle.root(fork[n[1] << n[0] : (n[1] + 1) << n[0]]) for n in merkle.unique_nodes(plan)}
    proof = merkle.assemble(plan, nodes)
    assert proof == [merkle.root(fork[:4]), *rfc]
    e = check_pair(small, large, keys, proof)
    assert e is not None and e.kind == "inconsistent"
    assert verify_evidence(roundtrip(e), keys) == e
    assert evidence_proof_nodes(5, 12) == merkle.consistency_nodes(5, 12)


def test_a_wrong_proof_is_no_evidence(log, keys, honest, fork):
    small, large = signed(log, honest, 5), signed(log, honest, 12)
    wrong = [bytes(32)] * len(merkle.consistency_proof(honest, 5, 12))
    with pytest.raises(merkle.ProofError, match="neither"):
        check_pair(small, large, keys, wrong)
    # evidence made of it does not verify either
    fake = evidence_to_json(Evidence("inconsistent", small, large, tuple(wrong)))
    with pytest.raises(EvidenceError):
        verify_evidence(fake, keys)
    # a valid proof of the honest log cannot be passed off as showing a fork
    honest_proof = merkle.consistency_proof(honest, 5, 12)
    with pytest.raises(EvidenceError):
        verify_evidence(evidence_to_json(Evidence("inconsistent", small, large, tuple(honest_proof))), keys)
    assert check_pair(small, large, keys, None) is None  # no proof: nothing to show


def test_rollback_from_the_logs_own_timestamps(log, keys, honest):
    big = signed(log, honest, 12, at=1_700_000_100)
    later_smaller = signed(log, honest, 5, at=1_700_000_200)
    e = check_pair(later_smaller, big, keys, None)
    assert e == Evidence("rollback", big, later_smaller)
    assert verify_evidence(roundtrip(e), keys) == e
    swapped = evidence_to_json(Evidence("rollback", later_smaller, big))
    with pytest.raises(EvidenceError):
        verify_evidence(swapped, keys)
    # growing over time is no rollback
    assert check_pair(signed(log, honest, 5, at=1_700_000_100), big, keys, None) is None
    # an untimed key alone (Ed25519) shows no order in time
    assert check_pair(later_smaller, big, keys[:1], None) is None


def test_only_signed_checkpoints_of_one_log_count(log, keys, honest, fork):
    other = [note.Signer(ORIGIN, note.ALG_ED25519, *note.generate(note.ALG_ED25519))]
    unsigned = signed(other, fork, 5)
    with pytest.raises(note.NoteError):
        check_pair(signed(log, honest, 5), unsigned, keys, None)
    with pytest.raises(EvidenceError):
        verify_evidence(evidence_to_json(Evidence("same-size", signed(log, honest, 5), unsigned)), keys)
    elsewhere = signed(log, fork, 5, origin="hospital-b.example/ledger")
    with pytest.raises(note.NoteError, match="different logs"):
        check_pair(
            signed(log, honest, 5),
            elsewhere,
            keys + [note.Verifier("hospital-b.example/ledger", k.algorithm, k.public_key) for k in keys],
            None,
        )


def test_evidence_json_is_strict(log, keys, honest, fork):
    e = Evidence("same-size", signed(log, honest, 5), signed(log, fork, 5))
    d = evidence_to_json(e)
    assert evidence_from_json(d) == e
    for bad in (
        {**d, "kind": "lie"},
        {**d, "extra": 1},
        {k: v for k, v in d.items() if k != "proof"},
        {**d, "proof": ["!!"]},
        {**d, "proof": [base64.b64encode(b"short").decode()]},
        {**d, "proof": "abc"},
        {**d, "first": 5},
        [],
    ):
        with pytest.raises(EvidenceError):
            evidence_from_json(bad)
    with pytest.raises(EvidenceError):  # claims another kind than the notes show
        verify_evidence({**d, "kind": "rollback"}, keys)
