"""Receipts carry the newest witnessed checkpoint covering their entry, and the offline verifier
checks it against a witness policy (`--policy`): the log's signature, the cosignatures, the
quorum, and the proofs that tie the receipt to it."""

from __future__ import annotations

import base64
import json

import pytest

from federation import quorum
from ledger import merkle, note
from ledger.models import SigningKey
from ledger.selectors import receipt_for_event, verifiers
from ledger.services import origin
from ledger.verify_offline import main as offline_main
from tests.federation.logside import Witness, grow_log, policy_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path):
    """A log of 7 entries witnessed by two of its three witnesses, then grown to 12 (the newest
    checkpoint, at 12, is not witnessed yet)."""
    cp = grow_log(7)
    w = [Witness(n) for n in range(1, 4)]
    w[0].cosign(cp)
    w[1].cosign(cp)
    assert quorum.update_witnessed(cp) is not None
    grow_log(5)
    policy = tmp_path / "policy"
    policy.write_text(quorum.policy_text())  # the node's own: `manage.py federation policy`
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [_key(k) for k in SigningKey.objects.all()]}))
    return {"witnesses": w, "policy": policy, "keys": keys, "dir": tmp_path}


def _key(k: SigningKey) -> dict:
    from ledger.chain import key_to_json

    return key_to_json(k.name, k.algorithm, bytes(k.public_key))


def _event_at(index: int) -> str:
    from ledger.models import Entry

    return str(Entry.objects.get(index=index).event_id)


def _run(world, receipt: dict, policy=None, *extra: str) -> int:
    path = world["dir"] / "receipt.json"
    path.write_text(json.dumps(receipt))
    args = [str(world["keys"]), "--receipt", str(path), "--policy", str(policy or world["policy"]), *extra]
    return offline_main(args)


def test_a_receipt_carries_the_witnessed_checkpoint_and_it_verifies(world, capsys):
    receipt = receipt_for_event(_event_at(3))
    w = receipt["witnessed"]
    assert (receipt["tree_size"], w["tree_size"]) == (12, 7)
    assert (
        len(note.verified_signatures(w["checkpoint"], [x.signer.verifier() for x in world["witnesses"]])) == 2
    )
    assert _run(world, receipt) == 0
    out = capsys.readouterr().out
    assert "witnessed: the checkpoint of size 7 is cosigned by w1.test/witness, w2.test/witness" in out
    assert "quorum 'majority' met" in out
    # the node's default policy pins the log's Ed25519 key
    assert "log " in world["policy"].read_text()


def test_no_witnessed_checkpoint_covers_a_newer_entry(world, capsys):
    receipt = receipt_for_event(_event_at(9))
    assert receipt["witnessed"] is None
    assert _run(world, receipt) == 1
    assert "carries no witnessed checkpoint" in capsys.readouterr().err
    assert offline_main([str(world["keys"]), "--receipt", str(world["dir"] / "receipt.json")]) == 0


def test_the_quorum_not_met_is_a_clear_failure(world, capsys):
    w1, w2, w3 = world["witnesses"]
    strict = world["dir"] / "strict"
    strict.write_text(
        "\n".join(
            [
                *(policy_line(w.name, w.vkey) for w in (w1, w2, w3)),
                f"group all3 all {w1.name} {w2.name} {w3.name}",
                "quorum all3",
            ]
        )
        + "\n"
    )
    assert _run(world, receipt_for_event(_event_at(3)), strict, "--json") == 1
    failure = json.loads(capsys.readouterr().err)["failure"]
    assert failure["check"] == "witness_quorum"
    assert "quorum ('all3') is not met" in failure["message"]
    assert (
        "cosigned by 2 of the policy's 3 witnesses (w1.test/witness, w2.test/witness)" in failure["message"]
    )


def _forge_cosignature(receipt: dict, name: str) -> None:
    lines = receipt["witnessed"]["checkpoint"].split("\n")
    i = next(n for n, line in enumerate(lines) if line.startswith(f"— {name} "))
    raw = bytearray(base64.b64decode(lines[i].split(" ")[2]))
    raw[-1] ^= 1
    lines[i] = f"— {name} {base64.b64encode(bytes(raw)).decode()}"
    receipt["witnessed"]["checkpoint"] = "\n".join(lines)


def test_tampering_with_the_witnessed_part_fails(world, capsys):
    def check(mutate) -> str:
        receipt = receipt_for_event(_event_at(3))
        mutate(receipt)
        assert _run(world, receipt, None, "--json") == 1
        return json.loads(capsys.readouterr().err)["failure"]["check"]

    assert check(lambda r: _forge_cosignature(r, "w2.test/witness")) == "witness_quorum"  # 1 of 3 left
    assert check(lambda r: r["witnessed"]["consistency_proof"].pop()) == "witnessed_proof"
    assert check(lambda r: r["witnessed"]["inclusion_proof"].reverse()) == "witnessed_proof"
    assert check(lambda r: r["witnessed"].update(tree_size=8)) == "malformed"

    def other_root(r):  # a checkpoint the log never signed
        text, sigs = r["witnessed"]["checkpoint"].split("\n\n", 1)
        o, size, root = text.split("\n")
        fake = base64.b64encode(merkle.node_hash(base64.b64decode(root), base64.b64decode(root))).decode()
        r["witnessed"]["checkpoint"] = f"{o}\n{size}\n{fake}\n\n{sigs}"

    assert check(other_root) == "witnessed_signature"


def test_a_policy_that_pins_another_log_key_fails(world, capsys):
    other = note.generate(note.ALG_ED25519)[0].hex()
    pinned = world["dir"] / "pinned"
    pinned.write_text(
        f"log {other}\n"
        + "".join(x + "\n" for x in world["policy"].read_text().splitlines() if not x.startswith("log "))
    )
    assert _run(world, receipt_for_event(_event_at(3)), pinned) == 1
    assert "not signed by a log key of the policy" in capsys.readouterr().err


def test_an_unreadable_policy_is_an_input_error(world, capsys):
    bad = world["dir"] / "bad"
    bad.write_text("quorum nobody\n")
    assert _run(world, receipt_for_event(_event_at(3)), bad) == 2
    assert "line 1" in capsys.readouterr().err


def test_the_receipt_checkpoint_can_be_the_witnessed_one(world, capsys):
    """The newest checkpoint witnessed too: no consistency proof needed between them."""
    from ledger.selectors import latest_checkpoint

    cp = latest_checkpoint()
    for w in world["witnesses"][:2]:
        w.cosign(cp)
    quorum.update_witnessed(cp)
    receipt = receipt_for_event(_event_at(9))
    assert receipt["witnessed"]["tree_size"] == receipt["tree_size"] == 12
    assert receipt["witnessed"]["consistency_proof"] == []
    assert _run(world, receipt) == 0
    assert note.open_note(receipt["witnessed"]["checkpoint"], [v for v in verifiers() if v.name == origin()])
