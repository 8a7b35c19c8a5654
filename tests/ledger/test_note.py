"""Ed25519 and cosignature/v1 signed notes, and the signature helpers, against outside vectors."""

import base64
import dataclasses
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import note
from tests.ledger import c2sp_vectors as kat

pytestmark = pytest.mark.smoke

ORIGIN = "log.example/test"


def ed25519_signer(name=ORIGIN, alg=note.ALG_ED25519):
    return note.Signer(name, alg, *note.generate(alg))


def checkpoint(size=5, origin=ORIGIN):
    return note.checkpoint_text(origin, size, hashlib.sha256(str(size).encode()).digest())


# --- known answers -----------------------------------------------------------------------------


def test_go_sumdb_note_vector_is_reproduced_byte_for_byte():
    signer = note.parse_skey(kat.GO_SKEY)
    verifier = note.parse_vkey(kat.GO_VKEY)
    assert signer.algorithm == note.ALG_ED25519 and signer.verifier() == verifier
    assert verifier.vkey == kat.GO_VKEY
    assert note.skey(signer.name, signer.algorithm, signer.private_key) == kat.GO_SKEY
    assert note.sign_note(kat.GO_TEXT, [signer]) == kat.GO_NOTE  # Ed25519 is deterministic
    assert note.open_note(kat.GO_NOTE, [verifier]) == (kat.GO_TEXT, [verifier])
    with pytest.raises(note.NoteError):
        note.open_note(kat.GO_NOTE.replace("cryptography", "cryptographY"), [verifier])


def test_signed_note_spec_example():
    v = note.parse_vkey(kat.SIGNED_NOTE_VKEY)
    assert (v.name, v.algorithm, v.public_key) == (
        "example.com/foo",
        note.ALG_ED25519,
        kat.SIGNED_NOTE_PUBLIC_KEY,
    )
    assert v.key_id == 0x530D903A == note.key_id(v.name, note.ALG_ED25519, v.public_key)
    assert note.verified_signatures(kat.SIGNED_NOTE, [v]) == [(v, None)]
    assert note.verified_signatures(kat.SIGNED_NOTE.replace("example message", "example massage"), [v]) == []


def test_real_checkpoint_with_four_cosignature_v1_witnesses():
    log = note.parse_vkey(kat.ED25519_LOG_VKEY)
    witnesses = [note.parse_vkey(k) for k in kat.COSIG_V1_VKEYS]
    assert {w.algorithm for w in witnesses} == {note.ALG_COSIG_V1}
    got = note.verified_signatures(kat.COSIGNED_CHECKPOINT, [log, *witnesses])
    # the log's line (untimed) and every witness with its timestamp; the RFC 6962 line of
    # the same key name (type 0x05, another key ID) is ignored
    assert dict(got) == {log: None, **{w: kat.COSIG_V1_TIMESTAMP for w in witnesses}}
    text, ok = note.open_note(kat.COSIGNED_CHECKPOINT, [log, *witnesses])
    assert note.parse_checkpoint(text).size == 1432088532 and len(ok) == 5
    # one digit of the size changed: nothing verifies, and open_note rejects the note
    forged = kat.COSIGNED_CHECKPOINT.replace("1432088532", "1432088533")
    assert note.verified_signatures(forged, [log, *witnesses]) == []
    with pytest.raises(note.NoteError):
        note.open_note(forged, witnesses)


def test_real_mldsa44_cosignature_verifies_with_its_timestamp():
    w = note.parse_vkey(kat.MLDSA_WITNESS_VKEY)
    assert w.algorithm == note.ALG_MLDSA and w.vkey == kat.MLDSA_WITNESS_VKEY
    assert note.verified_signatures(kat.MLDSA_COSIGNED_CHECKPOINT, [w]) == [(w, kat.MLDSA_TIMESTAMP)]
    forged = kat.MLDSA_COSIGNED_CHECKPOINT.replace("185550722", "185550723")
    assert note.verified_signatures(forged, [w]) == []


# --- cosignature/v1 -----------------------------------------------------------------------------


def test_cosignature_v1_signs_the_spec_message():
    w = ed25519_signer("witness.example/w1", note.ALG_COSIG_V1)
    text = checkpoint(20852163)
    sig = w.sign(text, timestamp=1679315147)
    assert len(sig) == 8 + 64 and struct.unpack(">Q", sig[:8]) == (1679315147,)
    message = b"cosignature/v1\ntime 1679315147\n" + text.encode()
    Ed25519PublicKey.from_public_bytes(w.public_key).verify(sig[8:], message)  # raises if not
    assert w.verifier().verify(text, sig) and w.verifier().timestamp(sig) == 1679315147
    # the key ID commits to type 0x04, so the same key as a plain Ed25519 key is another key
    assert w.verifier().key_id == int.from_bytes(
        hashlib.sha256(b"witness.example/w1\n\x04" + w.public_key).digest()[:4], "big"
    )
    as_plain = dataclasses.replace(w.verifier(), algorithm=note.ALG_ED25519)
    assert as_plain.key_id != w.verifier().key_id and not as_plain.verify(text, sig)
    # another timestamp, text or a timestamp past 2^63 - 1 does not verify
    assert not w.verifier().verify(text, struct.pack(">Q", 1679315148) + sig[8:])
    assert not w.verifier().verify(checkpoint(20852164), sig)
    assert not w.verifier().verify(text, struct.pack(">Q", 2**63) + sig[8:])
    with pytest.raises(note.NoteError):
        w.sign(text, timestamp=2**63)
    with pytest.raises(note.NoteError):  # a cosignature is about a checkpoint only
        w.sign("not a checkpoint\n", timestamp=1)


def test_ed25519_keys_round_trip_as_vkeys_and_skeys():
    for alg, type_byte in ((note.ALG_ED25519, b"\x01"), (note.ALG_COSIG_V1, b"\x04")):
        s = ed25519_signer("node.example/k", alg)
        assert len(s.public_key) == len(s.private_key) == 32
        assert base64.b64decode(s.verifier().vkey.split("+", 2)[2])[:1] == type_byte
        assert note.parse_vkey(s.verifier().vkey) == s.verifier()
        assert note.parse_skey(note.skey(s.name, alg, s.private_key)) == s
    with pytest.raises(note.NoteError):  # key ID of another key
        note.parse_vkey(kat.GO_VKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(note.NoteError):
        note.parse_skey(kat.GO_SKEY.replace("c74f20a3", "c74f20a4"))


# --- helpers --------------------------------------------------------------------------------------


def test_signature_lines_and_sign_note_agree():
    log = ed25519_signer()
    mldsa = note.Signer(ORIGIN, note.ALG_MLDSA, *note.generate(note.ALG_MLDSA))
    text = checkpoint()
    lines = note.signature_lines(text, [log, mldsa], timestamp=1_700_000_000)
    assert [line.split(" ")[:2] for line in lines] == [["\u2014", ORIGIN]] * 2
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    assert lines[0] == note.sign_note(text, [log]).split("\n\n", 1)[1]  # Ed25519: deterministic
    got = note.verified_signatures(text + "\n" + "".join(lines), [log.verifier(), mldsa.verifier()])
    assert got == [(log.verifier(), None), (mldsa.verifier(), 1_700_000_000)]


def test_add_signatures_appends_new_lines_once():
    log, w1, w2 = ed25519_signer(), *(ed25519_signer(f"w{i}.example", note.ALG_COSIG_V1) for i in (1, 2))
    text = checkpoint()
    signed = note.sign_note(text, [log])
    c1 = note.signature_lines(text, [w1], timestamp=10)
    c2 = note.signature_lines(text, [w2], timestamp=11)
    merged = note.add_signatures(signed, [*c1, c1[0], c2[0].rstrip("\n")])
    assert merged == signed + c1[0] + c2[0]
    assert note.add_signatures(merged, c1 + c2) == merged  # exact duplicates are dropped
    keys = [log.verifier(), w1.verifier(), w2.verifier()]
    assert note.verified_signatures(merged, keys) == [(keys[0], None), (keys[1], 10), (keys[2], 11)]
    for bad in ("not a signature line", "\u2014 name", "\u2014 name !!!", "\u2014 a b\n\u2014 c d"):
        with pytest.raises(note.NoteError):
            note.add_signatures(signed, [bad])


def test_verified_signatures_ignores_what_fails_where_open_note_raises():
    log, w = ed25519_signer(), ed25519_signer("w.example", note.ALG_COSIG_V1)
    text = checkpoint()
    good = note.signature_lines(text, [w], timestamp=7)[0]
    raw = bytearray(base64.b64decode(good.split(" ")[2]))
    raw[-1] ^= 1
    broken = f"\u2014 w.example {base64.b64encode(bytes(raw)).decode()}\n"
    signed = note.add_signatures(note.sign_note(text, [log]), [broken])
    assert note.verified_signatures(signed, [log.verifier(), w.verifier()]) == [(log.verifier(), None)]
    with pytest.raises(note.NoteError, match="does not verify"):
        note.open_note(signed, [log.verifier(), w.verifier()])
    # the same key twice counts once; unknown keys count never
    twice = note.add_signatures(signed, [good, *note.signature_lines(text, [w], timestamp=8)])
    assert note.verified_signatures(twice, [w.verifier()]) == [(w.verifier(), 7)]
    assert note.verified_signatures(twice, [ed25519_signer().verifier()]) == []
    with pytest.raises(note.NoteError):  # a malformed note still raises
        note.verified_signatures("no signatures\n", [w.verifier()])


def test_a_note_carries_up_to_64_signatures():
    assert note.MAX_SIGNATURES == 64
    text = checkpoint()
    signers = [ed25519_signer(f"w{i}.example", note.ALG_COSIG_V1) for i in range(65)]
    lines = note.signature_lines(text, signers, timestamp=1)
    full = text + "\n" + "".join(lines[:64])
    assert len(note.verified_signatures(full, [s.verifier() for s in signers])) == 64
    with pytest.raises(note.NoteError, match="too many"):
        note.add_signatures(full, lines[64:])
