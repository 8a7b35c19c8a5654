"""Sigsum policy files: parsing, formatting, quorum evaluation."""

import pytest

from ledger import note
from ledger.policy import (
    Policy,
    PolicyError,
    PolicyGroup,
    PolicyLog,
    PolicyWitness,
    format_policy,
    majority_policy,
    parse_policy,
    satisfied,
)
from tests.ledger import c2sp_vectors as kat

pytestmark = pytest.mark.smoke


def key(i: int) -> bytes:
    return bytes([i]) * 32


def test_sigsum_test_policy_parses():
    p = parse_policy(kat.SIGSUM_TEST_POLICY)
    assert [log.url for log in p.logs] == [
        "https://test.sigsum.org/barreleye",
        "https://serviceberry.tlog.stagemole.eu",
    ]
    assert p.logs[0].public_key.hex() == "4644af2abd40f4895a003bca350f9d5912ab301a49c77f13e5b6d905c20a5fe6"
    assert len(p.witnesses) == 8 and p.quorum == "quorum-rule"
    assert p.groups["glasklar-test-witnesses"] == PolicyGroup(
        "glasklar-test-witnesses",
        2,
        ("poc.sigsum.org/nisse", "rgdd.se/poc-witness", "witness1.smartit.nu/witness1"),
    )
    assert p.groups["quorum-rule"].threshold == 4 and len(p.groups["quorum-rule"].members) == 6
    assert parse_policy(format_policy(p)) == p


def test_a_real_cosigned_checkpoint_against_the_sigsum_test_policy():
    """Four of the policy's witnesses cosigned the checkpoint (with cosignature/v1 under the
    same names): remora, stagemole and little-garden count directly, smartit only as one of
    two needed in the Glasklar group: 3 of the 4 the quorum needs."""
    p = parse_policy(kat.SIGSUM_TEST_POLICY)
    got = note.verified_signatures(kat.COSIGNED_CHECKPOINT, p.verifiers())
    cosigned_by = {v.public_key for v, _ in got}
    assert {v.name for v, _ in got} == {
        "transparency.dev/DEV:witness-little-garden",
        "witness1.smartit.nu/witness1",
        "remora.n621.de",
        "witness.stagemole.eu",
    }
    assert not satisfied(p, cosigned_by)
    assert satisfied(p, cosigned_by | {p.witnesses["witness.navigli.sunlight.geomys.org"].public_key})
    assert satisfied(p, cosigned_by | {p.witnesses["rgdd.se/poc-witness"].public_key})  # the group is met
    three = kat.SIGSUM_TEST_POLICY.replace("group quorum-rule 4", "group quorum-rule 3")
    assert satisfied(parse_policy(three), cosigned_by)


def test_thresholds_nesting_and_none():
    text = f"""
      # comment, blank lines and tabs are fine
    log {key(9).hex()}
    witness a {key(1).hex()} https://a.example/witness
    witness\tb {key(2).hex()}
    witness c {key(3).hex()}
    witness d {key(4).hex()}
    group ab all a b
    group cd any c d
    group both 2 ab cd
    quorum both
    """
    p = parse_policy(text)
    assert p.witnesses["a"] == PolicyWitness("a", key(1), "https://a.example/witness")
    assert p.groups["ab"].threshold == 2 and p.groups["cd"].threshold == 1
    assert satisfied(p, {key(1), key(2), key(4)})
    assert not satisfied(p, {key(1), key(3), key(4)})  # ab needs both
    assert not satisfied(p, {key(1), key(2)})
    assert not satisfied(p, {key(9), key(3)})  # the log's key is no witness
    assert parse_policy(format_policy(p)) == p
    single = parse_policy(f"witness a {key(1).hex()}\nquorum a\n")
    assert satisfied(single, {key(1)}) and not satisfied(single, set())
    none = parse_policy(f"log {key(9).hex()}\nquorum none\n")
    assert satisfied(none, set()) and none.witnesses == {} and format_policy(none).endswith("quorum none\n")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no quorum line"),
        ("quorum none\nquorum none\n", "line 2: a policy has exactly one quorum line"),
        ("quorum x\n", "line 1: quorum 'x' is not defined"),
        (f"quorum a\nwitness a {key(1).hex()}\n", "line 1: quorum 'a' is not defined on an earlier line"),
        ("log abc\nquorum none\n", "line 1: public key must be 64 hex digits"),
        (f"log {key(1).hex()}\nlog {key(1).hex()}\nquorum none\n", "line 2: duplicate log key"),
        (f"witness a {key(1).hex()}\nwitness b {key(1).hex()}\nquorum a\n", "line 2: duplicate witness key"),
        (
            f"witness a {key(1).hex()}\nwitness a {key(2).hex()}\nquorum a\n",
            "line 2: name 'a' is already defined",
        ),
        (f"witness none {key(1).hex()}\nquorum none\n", "reserved"),
        (f"witness a {key(1).hex()}\ngroup g 1 a b\nquorum g\n", "line 2: group member 'b' is not defined"),
        (f"witness a {key(1).hex()}\ngroup g 1 a a\nquorum g\n", "more than once"),
        (f"witness a {key(1).hex()}\ngroup g 2 a\nquorum g\n", "line 2: threshold 2 is not between 1"),
        (f"witness a {key(1).hex()}\ngroup g 0 a\nquorum g\n", "threshold"),
        (f"witness a {key(1).hex()}\ngroup g 01 a\nquorum g\n", "threshold must be"),
        (f"witness a {key(1).hex()}\ngroup g most a\nquorum g\n", "threshold must be"),
        (f"witness a {key(1).hex()}\ngroup g a\nquorum g\n", "line 2: expected 'group"),
        (f"witness a {key(1).hex()}\ngroup g 1 none\nquorum g\n", "not defined"),
        (f"witness a {key(1).hex()} https://x extra\nquorum a\n", "line 1: expected 'witness"),
        ("trust everyone\nquorum none\n", "line 1: unknown keyword 'trust'"),
        ("quorum none\r\n", "line 1: control character 0x0d"),
        ("quorum none\n" + "#" * (1 << 16), "larger than"),
    ],
)
def test_bad_policies_say_what_and_where(text, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def test_majority_policy():
    ws = [PolicyWitness(f"w{i}.example", key(i)) for i in range(1, 6)]
    p = majority_policy(ws)
    assert p.groups[p.quorum].threshold == 3
    assert satisfied(p, {key(1), key(2), key(5)}) and not satisfied(p, {key(1), key(2)})
    assert parse_policy(format_policy(p)) == p
    assert majority_policy(ws[:2]).groups["majority"].threshold == 2
    assert majority_policy(ws[:1]).groups["majority"].threshold == 1
    assert majority_policy([]).quorum == "none" and satisfied(majority_policy([]), set())
    named = majority_policy([PolicyWitness("majority", key(1))], [PolicyLog(key(9))])
    assert named.quorum != "majority" and satisfied(named, {key(1)}) and named.logs == (PolicyLog(key(9)),)


def test_format_orders_groups_before_their_use():
    p = Policy(
        (),
        {"a": PolicyWitness("a", key(1)), "b": PolicyWitness("b", key(2))},
        "outer",
        {"outer": PolicyGroup("outer", 1, ("inner", "b")), "inner": PolicyGroup("inner", 1, ("a",))},
    )
    text = format_policy(p)
    assert text.index("group inner") < text.index("group outer")
    assert satisfied(parse_policy(text), {key(1)})
    cycle = Policy((), {}, "x", {"x": PolicyGroup("x", 1, ("y",)), "y": PolicyGroup("y", 1, ("x",))})
    with pytest.raises(PolicyError):
        format_policy(cycle)
