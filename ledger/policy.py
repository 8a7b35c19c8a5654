"""Trust policies in the Sigsum policy file format (no Django).

A policy names the logs a client accepts, the witnesses it knows, and the *quorum*: which
sets of witness cosignatures make a checkpoint witnessed. Lines (sigsum.org "policy",
the ancestor of c2sp.org/tlog-policy, with hex Ed25519 public keys instead of vkeys)::

    # comment
    log <hex Ed25519 public key> [<url>]
    witness <name> <hex Ed25519 public key> [<url>]
    group <name> <k | all | any> <member> [<member> ...]
    quorum <name | none>

Items are separated by spaces or tabs; blank and comment lines are ignored. Witnesses and
groups share one namespace; a group's members are witnesses or groups defined on earlier
lines, each listed at most once, and ``none`` is reserved. A group is satisfied when at least
k of its members are (a witness is satisfied when its cosignature verified); ``any`` is k = 1,
``all`` is k = n. Exactly one quorum line. No two logs, and no two witnesses, share a key.

In this project a witness's policy name is also its signed-note key name, so that
`PolicyWitness.verifier` finds its ``cosignature/v1`` lines in a checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ledger import note

NONE = "none"
MAX_POLICY_CHARS = 1 << 16
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_SPACE = re.compile(r"[ \t]+")


class PolicyError(ValueError):
    """A policy file that does not parse, with the line number where it went wrong."""


@dataclass(frozen=True)
class PolicyLog:
    public_key: bytes = field(repr=False)  # Ed25519, 32 bytes
    url: str | None = None

    def verifier(self, origin: str) -> note.Verifier:
        return note.Verifier(origin, note.ALG_ED25519, self.public_key)


@dataclass(frozen=True)
class PolicyWitness:
    name: str
    public_key: bytes = field(repr=False)  # Ed25519, 32 bytes
    url: str | None = None

    def verifier(self) -> note.Verifier:
        """The witness's cosignature/v1 key, named by its policy name."""
        return note.Verifier(self.name, note.ALG_COSIG_V1, self.public_key)


@dataclass(frozen=True)
class PolicyGroup:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    logs: tuple[PolicyLog, ...]
    witnesses: Mapping[str, PolicyWitness]
    quorum: str
    groups: Mapping[str, PolicyGroup] = field(default_factory=dict)

    def verifiers(self) -> list[note.Verifier]:
        return [w.verifier() for w in self.witnesses.values()]


# --- parsing -------------------------------------------------------------------------------


def _key(token: str, lineno: int) -> bytes:
    if not _HEX_KEY.fullmatch(token):
        raise PolicyError(f"line {lineno}: public key must be 64 hex digits (an Ed25519 key)")
    return bytes.fromhex(token)


def _name(token: str, lineno: int, defined: Mapping[str, object]) -> str:
    if token == NONE:
        raise PolicyError(f"line {lineno}: the name 'none' is reserved")
    if token in defined:
        raise PolicyError(f"line {lineno}: name {token!r} is already defined")
    return token


def parse_policy(text: str) -> Policy:
    if len(text) > MAX_POLICY_CHARS:
        raise PolicyError(f"policy is larger than {MAX_POLICY_CHARS} characters")
    logs: list[PolicyLog] = []
    witnesses: dict[str, PolicyWitness] = {}
    groups: dict[str, PolicyGroup] = {}
    names: dict[str, object] = {}
    log_keys: set[bytes] = set()
    witness_keys: set[bytes] = set()
    quorum: str | None = None
    for lineno, raw in enumerate(text.split("\n"), start=1):
        bad = next((c for c in raw if (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F), None)
        if bad is not None:
            raise PolicyError(f"line {lineno}: control character {ord(bad):#04x} is not allowed")
        line = raw.strip(" \t")
        if not line or line.startswith("#"):
            continue
        keyword, *args = _SPACE.split(line)
        if keyword == "log":
            if len(args) not in (1, 2):
                raise PolicyError(f"line {lineno}: expected 'log <public key> [<url>]'")
            key = _key(args[0], lineno)
            if key in log_keys:
                raise PolicyError(f"line {lineno}: duplicate log key")
            log_keys.add(key)
            logs.append(PolicyLog(key, args[1] if len(args) == 2 else None))
        elif keyword == "witness":
            if len(args) not in (2, 3):
                raise PolicyError(f"line {lineno}: expected 'witness <name> <public key> [<url>]'")
            name = _name(args[0], lineno, names)
            key = _key(args[1], lineno)
            if key in witness_keys:
                raise PolicyError(f"line {lineno}: duplicate witness key")
            witness_keys.add(key)
            witnesses[name] = names[name] = PolicyWitness(name, key, args[2] if len(args) == 3 else None)
        elif keyword == "group":
            if len(args) < 3:
                raise PolicyError(f"line {lineno}: expected 'group <name> <k|all|any> <member>...'")
            name = _name(args[0], lineno, names)
            members = args[2:]
            for m in members:
                if m not in names:
                    raise PolicyError(f"line {lineno}: group member {m!r} is not defined on an earlier line")
            if len(set(members)) != len(members):
                raise PolicyError(f"line {lineno}: a group lists a member more than once")
            k = _threshold(args[1], len(members), lineno)
            groups[name] = names[name] = PolicyGroup(name, k, tuple(members))
        elif keyword == "quorum":
            if len(args) != 1:
                raise PolicyError(f"line {lineno}: expected 'quorum <name|none>'")
            if quorum is not None:
                raise PolicyError(f"line {lineno}: a policy has exactly one quorum line")
            if args[0] != NONE and args[0] not in names:
                raise PolicyError(f"line {lineno}: quorum {args[0]!r} is not defined on an earlier line")
            quorum = args[0]
        else:
            raise PolicyError(f"line {lineno}: unknown keyword {keyword!r}")
    if quorum is None:
        raise PolicyError("policy has no quorum line")
    return Policy(tuple(logs), witnesses, quorum, groups)


def _threshold(token: str, n: int, lineno: int) -> int:
    if token == "all":  # nosec B105 - a policy keyword, not a password
        return n
    if token == "any":  # nosec B105 - a policy keyword, not a password
        return 1
    if not token.isascii() or not token.isdigit() or token.startswith("0"):
        raise PolicyError(f"line {lineno}: threshold must be 'all', 'any' or a decimal number")
    k = int(token)
    if not 1 <= k <= n:
        raise PolicyError(f"line {lineno}: threshold {k} is not between 1 and the {n} members")
    return k


# --- formatting ------------------------------------------------------------------------------


def format_policy(policy: Policy) -> str:
    """Policy file text; `parse_policy(format_policy(p)) == p` for any valid policy."""

    def opt(url: str | None) -> str:
        return f" {url}" if url else ""

    lines = [f"log {log.public_key.hex()}{opt(log.url)}" for log in policy.logs]
    lines += [f"witness {w.name} {w.public_key.hex()}{opt(w.url)}" for w in policy.witnesses.values()]
    done = set(policy.witnesses)
    pending = list(policy.groups.values())
    while pending:  # definitions before use, whatever order the mapping has
        ready = [g for g in pending if all(m in done for m in g.members)]
        if not ready:
            raise PolicyError("policy groups refer to undefined members or to each other in a cycle")
        for g in ready:
            lines.append(f"group {g.name} {g.threshold} {' '.join(g.members)}")
            done.add(g.name)
            pending.remove(g)
    lines.append(f"quorum {policy.quorum}")
    return "\n".join(lines) + "\n"


# --- evaluation ------------------------------------------------------------------------------


def satisfied(policy: Policy, cosigned_by: set[bytes]) -> bool:
    """Whether the witnesses whose Ed25519 keys are `cosigned_by` meet the quorum."""
    if policy.quorum == NONE:
        return True
    memo: dict[str, bool] = {}

    def ok(name: str) -> bool:
        if name not in memo:
            if name in policy.witnesses:
                memo[name] = policy.witnesses[name].public_key in cosigned_by
            else:
                g = policy.groups[name]
                memo[name] = sum(ok(m) for m in g.members) >= g.threshold
        return memo[name]

    return ok(policy.quorum)


def majority_policy(witnesses: Sequence[PolicyWitness], logs: Sequence[PolicyLog] = ()) -> Policy:
    """The default without a policy file: more than half of the witnesses (none: no quorum)."""
    ws = {w.name: w for w in witnesses}
    if len(ws) != len(witnesses):
        raise PolicyError("two witnesses share a name")
    if not ws:
        return Policy(tuple(logs), {}, NONE)
    name = "majority"
    while name in ws:
        name += "-group"
    group = PolicyGroup(name, len(ws) // 2 + 1, tuple(ws))
    return Policy(tuple(logs), ws, name, {name: group})
