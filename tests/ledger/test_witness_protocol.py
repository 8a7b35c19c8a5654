"""c2sp.org/tlog-witness messages and the witness's add-checkpoint decision."""

import base64

import pytest

from ledger import merkle, note
from ledger import witness_protocol as wp

pytestmark = pytest.mark.smoke

ORIGIN = "hospital-a.example/ledger"

# the example request and response bodies of c2sp.org/tlog-witness
SPEC_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
).encode()
SPEC_RESPONSE = (
    "\u2014 witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n"
    "\u2014 witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==\n"
    "\u2014 witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n"
).encode()


@pytest.fixture(scope="module")
def log():
    return note.Signer(ORIGIN, note.ALG_ED25519, *note.generate(note.ALG_ED25519))


@pytest.fixture(scope="module")
def leaves():
    return [merkle.leaf_hash(b"entry %d" % i) for i in range(40)]


def signed(log, size, leaves, *, signers=None, root=None):
    text = note.checkpoint_text(ORIGIN, size, root or merkle.root(leaves[:size]))
    return note.sign_note(text, signers or [log])


def request(old, proof, checkpoint):
    return wp.parse_add_checkpoint(wp.format_add_checkpoint(old, proof, checkpoint))


# --- messages ---------------------------------------------------------------------------------


def test_parses_the_spec_example_request_and_formats_it_back():
    req = wp.parse_add_checkpoint(SPEC_REQUEST)
    assert req.old_size == 20852014 and len(req.proof) == 4
    assert req.proof[0] == base64.b64decode("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=")
    assert (req.origin, req.parsed.size) == ("example.com/behind-the-sofa", 20852163)
    assert wp.format_add_checkpoint(req.old_size, req.proof, req.checkpoint) == SPEC_REQUEST


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "no old size line"),
        (b"new 5\n\n", "'old <size>'"),
        (SPEC_REQUEST.replace(b"old 20852014", b"old 020852014"), "leading zeroes"),
        (SPEC_REQUEST.replace(b"old 20852014", b"old -1"), "leading zeroes"),
        (SPEC_REQUEST.replace(b"old 20852014", b"old  20852014"), "leading zeroes"),
        (SPEC_REQUEST.replace(b"old 20852014", b"old 99999999999999999999"), "too large"),
        (SPEC_REQUEST.replace(b"\n", b"\r\n"), "CRLF"),
        (SPEC_REQUEST.replace(b"example.com", b"example\xff.com"), "UTF-8"),
        (SPEC_REQUEST + b"x" * (1 << 20), "larger than"),
        (SPEC_REQUEST.replace(b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=", b"PlRNCrwH"), "32-byte hash"),
        (SPEC_REQUEST.replace(b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=", b"not base64!"), "not base64"),
        (b"old 1\n" + b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n" * 64 + b"\n", "more than 63"),
        (b"old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n", "no empty line"),
        (b"old 1\n\nnot a checkpoint\n", "malformed checkpoint"),
        (SPEC_REQUEST.replace(b"\n20852163\n", b"\n020852163\n"), "malformed checkpoint"),
        (SPEC_REQUEST.split(b"\n\n\xe2\x80\x94")[0] + b"\n", "malformed checkpoint"),  # no signatures
    ],
)
def test_malformed_requests_are_protocol_errors(body, message):
    with pytest.raises(wp.ProtocolError, match=message) as exc:
        wp.parse_add_checkpoint(body)
    assert exc.value.status == 400


def test_63_proof_lines_are_allowed(log, leaves):
    proof = [merkle.leaf_hash(b"%d" % i) for i in range(63)]
    assert len(request(1, proof, signed(log, 2, leaves)).proof) == 63
    with pytest.raises(ValueError):
        wp.format_add_checkpoint(1, proof * 2, signed(log, 2, leaves))


def test_cosignature_and_size_bodies():
    lines = wp.parse_cosignatures(SPEC_RESPONSE)
    assert len(lines) == 3 and all(line.endswith("\n") for line in lines)
    assert wp.format_cosignatures(lines) == SPEC_RESPONSE
    assert wp.format_cosignatures([line.rstrip("\n") for line in lines]) == SPEC_RESPONSE
    for bad in (SPEC_RESPONSE[:-1], b"", b"\n", b"hello\n", SPEC_RESPONSE + b"\x00\n"):
        with pytest.raises(wp.ProtocolError):
            wp.parse_cosignatures(bad)
    with pytest.raises(ValueError):
        wp.format_cosignatures([])
    assert wp.format_size(20852163) == b"20852163\n" and wp.parse_size(b"20852163\n") == 20852163
    assert wp.parse_size(wp.format_size(0)) == 0
    for bad in (b"12", b"012\n", b"12\n\n", b"-1\n", b"1 2\n", b"\xff\n"):
        with pytest.raises(wp.ProtocolError):
            wp.parse_size(bad)
    assert wp.CONTENT_TYPE_SIZE == "text/x.tlog.size"


# --- the witness's decision ---------------------------------------------------------------------


def test_first_checkpoint_then_a_consistent_one_then_the_same_again(log, leaves):
    keys = [log.verifier()]
    first = request(0, [], signed(log, 5, leaves))
    cp = wp.check_request(first, cosigned_size=0, cosigned_root=None, verifiers=keys)
    assert (cp.origin, cp.size, cp.root) == (ORIGIN, 5, merkle.root(leaves[:5]))

    proof = merkle.consistency_proof(leaves, 5, 12)
    nxt = request(5, proof, signed(log, 12, leaves))
    cp2 = wp.check_request(nxt, cosigned_size=5, cosigned_root=cp.root, verifiers=keys)
    assert cp2.size == 12

    again = request(12, [], signed(log, 12, leaves))  # same size, same root: cosign again
    assert wp.check_request(again, cosigned_size=12, cosigned_root=cp2.root, verifiers=keys) == cp2


def test_refusals_carry_the_spec_status(log, leaves):
    keys = [log.verifier()]
    r5 = merkle.root(leaves[:5])
    cp12 = signed(log, 12, leaves)

    def check(req, size=5, root=r5, verifiers=keys):
        return wp.check_request(req, cosigned_size=size, cosigned_root=root, verifiers=verifiers)

    with pytest.raises(wp.StaleOld) as stale:  # 409 with the witness's size
        check(request(4, merkle.consistency_proof(leaves, 4, 12), cp12))
    assert stale.value.status == 409 and stale.value.current_size == 5
    with pytest.raises(wp.ProtocolError) as bigger:  # old > size: 400
        check(request(13, [], cp12))
    assert bigger.value.status == 400

    bad = [bytes(32)] * len(merkle.consistency_proof(leaves, 5, 12))
    with pytest.raises(wp.BadProof) as proof:
        check(request(5, bad, cp12))
    assert proof.value.status == 422 and proof.value.checkpoint.size == 12

    fork = [*leaves[:3], merkle.leaf_hash(b"rewritten"), *leaves[4:]]
    forked = request(5, merkle.consistency_proof(fork, 5, 12), signed(log, 12, fork))
    with pytest.raises(wp.BadProof):  # a valid proof of another tree
        check(forked)
    with pytest.raises(wp.BadProof):  # same size, another root
        check(request(5, [], signed(log, 5, fork)))
    with pytest.raises(wp.BadProof):  # from size 0 the proof must be empty
        check(request(0, [bytes(32)], cp12), size=0, root=None)
    with pytest.raises(wp.BadProof):  # the empty tree has one root
        check(request(0, [], signed(log, 0, leaves, root=bytes(32))), size=0, root=None)


def test_only_trusted_log_keys_count(log, leaves):
    other = note.Signer(ORIGIN, note.ALG_ED25519, *note.generate(note.ALG_ED25519))
    req = request(0, [], signed(other, 5, leaves))
    with pytest.raises(wp.UnknownKey) as unknown:
        wp.check_request(req, cosigned_size=0, cosigned_root=None, verifiers=[log.verifier()])
    assert unknown.value.status == 403
    # a line from the trusted key that fails to verify: 403 even beside a good signature
    good = signed(log, 5, leaves)
    raw = note.key_id(ORIGIN, note.ALG_ED25519, log.public_key).to_bytes(4, "big") + bytes(64)
    forged = note.add_signatures(good, [f"\u2014 {ORIGIN} {base64.b64encode(raw).decode()}"])
    with pytest.raises(wp.UnknownKey):
        wp.check_request(
            request(0, [], forged), cosigned_size=0, cosigned_root=None, verifiers=[log.verifier()]
        )
    with pytest.raises(wp.UnknownOrigin) as origin:
        wp.check_request(request(0, [], good), cosigned_size=0, cosigned_root=None, verifiers=[])
    assert origin.value.status == 404


def test_round_trip_log_to_witness_and_back(log, leaves):
    """The log posts, the witness decides and cosigns, the log verifies and merges."""
    witness = note.Signer("hospital-b.example/witness", note.ALG_COSIG_V1, *note.generate(note.ALG_COSIG_V1))
    checkpoint = signed(log, 9, leaves)
    body = wp.format_add_checkpoint(0, [], checkpoint)

    req = wp.parse_add_checkpoint(body)  # witness side
    cp = wp.check_request(req, cosigned_size=0, cosigned_root=None, verifiers=[log.verifier()])
    response = wp.format_cosignatures(note.signature_lines(cp.text(), [witness], timestamp=1_700_000_000))

    merged = note.add_signatures(checkpoint, wp.parse_cosignatures(response))  # log side
    got = note.verified_signatures(merged, [log.verifier(), witness.verifier()])
    assert got == [(log.verifier(), None), (witness.verifier(), 1_700_000_000)]
