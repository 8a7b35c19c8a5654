import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import canonical, note

pytestmark = pytest.mark.smoke


def test_canonical_json_rules():
    assert canonical.dumps({"b": 1, "a": [True, None, "é\n\u0001"], "\u20ac": 1, "\U0001f600": 2}) == (
        '{"a":[true,null,"é\\n\\u0001"],"b":1,"€":1,"😀":2}'
    )
    assert canonical.dumps([1e21, 1e-7, 123.456, 1e20, 0.000001, -0.0, 100.0]) == (
        "[1e+21,1e-7,123.456,100000000000000000000,0.000001,0,100]"
    )
    for bad in (float("nan"), float("inf"), 2**60, {1: 2}, b"x"):
        with pytest.raises(canonical.CanonicalError):
            canonical.dumps(bad)
    assert canonical.is_canonical(b'{"a":1,"b":2}')
    assert not canonical.is_canonical(b'{"b":2,"a":1}')
    assert not canonical.is_canonical(b'{"a": 1}')


@pytest.fixture(scope="module")
def signers():
    fpk, fsk = note.generate(note.ALG_FALCON)
    mpk, msk = note.generate(note.ALG_MLDSA)
    name = "log.example/test"
    return note.Signer(name, note.ALG_FALCON, fpk, fsk), note.Signer(name, note.ALG_MLDSA, mpk, msk)


def test_key_ids_follow_the_spec(signers):
    f, m = signers
    assert note.key_id(f.name, note.ALG_MLDSA, m.public_key) == int.from_bytes(
        hashlib.sha256(f.name.encode() + b"\n\x06" + m.public_key).digest()[:4], "big"
    )
    assert note.key_id(f.name, note.ALG_FALCON, f.public_key) == int.from_bytes(
        hashlib.sha256(f.name.encode() + b"\n\xffqmedchain/falcon-512" + f.public_key).digest()[:4], "big"
    )
    assert note.parse_vkey(f.verifier().vkey) == f.verifier()
    assert note.parse_vkey(m.verifier().vkey) == m.verifier()


def test_checkpoint_note_roundtrip_and_rejections(signers):
    f, m = signers
    root = hashlib.sha256(b"r").digest()
    text = note.checkpoint_text(f.name, 20852163, root)
    assert text.split("\n")[:2] == [f.name, "20852163"]
    signed = note.sign_note(text, [f, m], timestamp=1679315147)
    body, ok = note.open_note(signed, [f.verifier(), m.verifier()], require={note.ALG_FALCON, note.ALG_MLDSA})
    assert body == text and len(ok) == 2
    assert note.parse_checkpoint(body).size == 20852163
    # the ML-DSA-44 line is a tlog-cosignature: 8-byte timestamp then 2420-byte signature
    _, sigs = note.split_note(signed)
    assert len(sigs[1].signature) == 8 + 2420 and sigs[1].signature[:8] == (1679315147).to_bytes(8, "big")
    with pytest.raises(note.NoteError):  # altered text
        note.open_note(signed.replace("20852163", "20852164"), [f.verifier()])
    other = note.Signer(f.name, note.ALG_FALCON, *note.generate(note.ALG_FALCON))
    with pytest.raises(note.NoteError, match="no signature from a known key"):
        note.open_note(note.sign_note(text, [other]), [f.verifier(), m.verifier()])
    with pytest.raises(note.NoteError, match="ml-dsa-44"):
        note.open_note(note.sign_note(text, [f]), [f.verifier(), m.verifier()], require={note.ALG_MLDSA})
    for bad in ["x\n", "a\n01\n" + "A" * 44 + "\n", "a\n1\nnotb64\n", "a\n1\n\n"]:
        with pytest.raises(note.NoteError):
            note.parse_checkpoint(bad)
    with pytest.raises(note.NoteError):
        note.split_note(text)  # no signatures
    json.dumps(f.verifier().vkey)


def test_fast_leaf_data_equals_canonical_encoding():
    from ledger import chain

    for fps in (None, {"qwalk": "ab" * 16}):
        payload = {"scan_id": "6f1c7e2a-1b2c-4d5e-8f90-0a1b2c3d4e5f", "score": 0.5, "é": ["x", 1]}
        fast = chain.leaf_data(
            index=42,
            event_id="0b8f1c1e-3f2a-4b8e-9a57-7c1f0e2d3c4b",
            event_type="scan.registered",
            timestamp="2026-01-02T03:04:05.000006Z",
            prev_hash=bytes(range(32)),
            key_id="0a1b2c3d",
            payload=canonical.dumps(payload),
            fingerprints=canonical.dumps(fps) if fps else None,
        )
        obj = {
            "v": 1,
            "index": 42,
            "event_id": "0b8f1c1e-3f2a-4b8e-9a57-7c1f0e2d3c4b",
            "type": "scan.registered",
            "time": "2026-01-02T03:04:05.000006Z",
            "prev": bytes(range(32)).hex(),
            "key": "0a1b2c3d",
            "payload": payload,
        }
        if fps:
            obj["fingerprints"] = fps
        assert fast == canonical.canonical_bytes(obj)


_scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text()
_json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


def _slow(value) -> str:
    out: list[str] = []
    canonical._encode(value, out)
    return "".join(out)


@settings(max_examples=400, deadline=None)
@given(_json_values)
def test_the_fast_path_writes_exactly_the_canonical_form(value):
    # non-ASCII keys (UTF-16 order) and everything else still take the slow path; both agree
    assert canonical.dumps(value) == _slow(value)


def test_what_the_fast_path_leaves_to_the_slow_one():
    for value in ({"\U0001f600": 1, "\uffff": 2}, {"a": 1.5}, {"a": 2**60}, {1: "x"}, ("a", 1.0)):
        assert not canonical._plain(value)
    assert canonical.dumps({"\U0001f600": 1, "\uffff": 2}) == '{"\U0001f600":1,"\uffff":2}'  # UTF-16 order
    with pytest.raises(canonical.CanonicalError):
        canonical.dumps({"a": 2**60})
