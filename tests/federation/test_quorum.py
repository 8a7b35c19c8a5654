"""The witness policy of this node's log: a majority of its witness peers by default, or a
Sigsum policy file; a checkpoint is witnessed once the verified cosignatures of trusted peers
meet it, and its note then carries them all."""

from __future__ import annotations

import io
import logging

import pytest

from federation import quorum
from federation.models import Cosignature, WitnessedCheckpoint
from federation.peers import add_peer, mark_untrusted
from ledger import note
from ledger.models import SigningKey
from ledger.policy import PolicyLog, satisfied
from tests.federation.logside import Witness, grow_log, policy_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def cp():
    return grow_log(7)


def test_the_default_policy_is_a_majority_of_the_reachable_trusted_witnesses(cp):
    ws = [Witness(n) for n in range(1, 4)]
    Witness(4, url="")  # no URL: we cannot ask it, it does not count
    mark_untrusted(Witness(5).peer, "caught lying")
    rotated = note.Signer(ws[0].name, note.ALG_COSIG_V1, *note.generate(note.ALG_COSIG_V1))
    add_peer(origin=ws[0].peer.origin, vkeys=[rotated.verifier().vkey], role="witness")  # its newest key
    policy = quorum.effective_policy()
    assert set(policy.witnesses) == {w.name for w in ws}
    assert policy.witnesses[ws[0].name].public_key == rotated.public_key
    assert policy.groups[policy.quorum].threshold == 2
    ed25519 = SigningKey.objects.filter(algorithm=note.ALG_ED25519, retired_at__isnull=True)
    assert policy.logs == tuple(PolicyLog(bytes(k.public_key)) for k in ed25519)
    assert satisfied(policy, {ws[1].signer.public_key, ws[2].signer.public_key})
    assert not satisfied(policy, {ws[0].signer.public_key, ws[1].signer.public_key})  # its old key


def test_witnessed_once_the_quorum_is_met_and_refreshed_with_later_cosignatures(cp):
    w1, w2, w3 = (Witness(n) for n in range(1, 4))
    w1.cosign(cp)
    assert quorum.update_witnessed(cp) is None  # 1 of 3
    w2.cosign(cp)
    wc = quorum.update_witnessed(cp)
    assert (wc.checkpoint_id, wc.tree_size) == (cp.id, 7)
    signed = {
        v.name for v, _ in note.verified_signatures(wc.note, [w.signer.verifier() for w in (w1, w2, w3)])
    }
    assert signed == {w1.name, w2.name}
    w3.cosign(cp)
    wc = quorum.update_witnessed(cp)
    assert len(note.verified_signatures(wc.note, [w.signer.verifier() for w in (w1, w2, w3)])) == 3
    assert WitnessedCheckpoint.objects.count() == 1
    assert quorum.newest_witnessed(6) == (7, wc.note)
    assert quorum.newest_witnessed(7) is None  # an entry at index 7 is not in a tree of 7


def test_an_untrusted_peers_cosignature_does_not_count(cp):
    w1, w2, _w3 = (Witness(n) for n in range(1, 4))
    w1.cosign(cp)
    w2.cosign(cp)
    mark_untrusted(w2.peer, "caught lying")  # and the majority is now 2 of 2
    assert quorum.update_witnessed(cp) is None
    assert Cosignature.objects.filter(peer=w2.peer).exists()  # kept, just not counted


def test_a_policy_file_decides_when_set(cp, settings, tmp_path):
    w1, w2, w3 = (Witness(n) for n in range(1, 4))
    policy = tmp_path / "policy"
    policy.write_text(
        "\n".join(
            [
                "# the third witness alone, or the first two together",
                *(policy_line(w.name, w.vkey) for w in (w1, w2, w3)),
                f"group pair all {w1.name} {w2.name}",
                f"group either any pair {w3.name}",
                "quorum either",
            ]
        )
        + "\n"
    )
    settings.FEDERATION_POLICY_FILE = str(policy)
    assert "quorum either" in quorum.policy_text()
    w1.cosign(cp)
    assert quorum.update_witnessed(cp) is None  # a majority (2 of 3) would not be met either
    w3.cosign(cp)
    assert quorum.update_witnessed(cp) is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [(None, "cannot read"), ("witness a 00\nquorum a\n", "line 1"), ("quorum none\n", None)],
)
def test_a_broken_or_empty_policy_witnesses_nothing(cp, settings, tmp_path, caplog, text, message):
    w1 = Witness(1)
    w1.cosign(cp)
    policy = tmp_path / "policy"
    if text is not None:
        policy.write_text(text)
    settings.FEDERATION_POLICY_FILE = str(policy)
    with caplog.at_level(logging.ERROR, logger="federation.quorum"):
        assert quorum.update_witnessed(cp) is None
    if message:
        assert message in caplog.text and "no checkpoint is witnessed" in caplog.text


def test_no_witness_peers_no_witnessed_checkpoint(cp):
    assert quorum.effective_policy().quorum == "none"
    assert quorum.update_witnessed(cp) is None


def test_the_policy_command_prints_the_effective_policy(cp, settings, tmp_path):
    import json

    from django.core.management import CommandError, call_command

    from ledger.policy import parse_policy

    w1, w2 = Witness(1), Witness(2)
    out = io.StringIO()
    call_command("federation", "policy", stdout=out)
    text = out.getvalue()
    assert text.startswith("# a majority of the trusted witness peers")
    policy = parse_policy(text)  # the output is a policy file the verifier takes as it is
    assert set(policy.witnesses) == {w1.name, w2.name} and policy.groups[policy.quorum].threshold == 2
    out = io.StringIO()
    call_command("federation", "policy", "--json", stdout=out)
    doc = json.loads(out.getvalue())
    assert doc["quorum"] == policy.quorum and {w["name"] for w in doc["witnesses"]} == {w1.name, w2.name}
    settings.FEDERATION_POLICY_FILE = str(tmp_path / "missing")
    with pytest.raises(CommandError, match="cannot read the witness policy"):
        call_command("federation", "policy")
