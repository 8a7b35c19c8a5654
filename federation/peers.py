"""Peers: the logs this node witnesses and the witnesses of its own log, with their keys.

Nothing is trusted on first use: a peer and its keys exist only once an administrator added
them (`add_peer`, from `manage.py federation add-peer` or the admin page). A peer caught
signing two incompatible views of its log is marked untrusted (`mark_untrusted`) and its
checkpoints are refused from then on.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction

from federation.models import Peer, PeerKey
from ledger import note
from ledger import services as ledger_services

LOG_ALGORITHMS = frozenset({note.ALG_ED25519, note.ALG_MLDSA, note.ALG_FALCON})
WITNESS_ALGORITHMS = frozenset({note.ALG_COSIG_V1, note.ALG_MLDSA})
# an origin is the log's key name (c2sp.org/signed-note): printable ASCII, no space, no "+"
ORIGIN_RE = re.compile(r"^[\x21-\x2a\x2c-\x7e]{1,255}$")
MAX_KEYS = 32


def fingerprint(verifier: note.Verifier) -> str:
    """What a person compares out of band before trusting a key: SHA-256 of the key's type
    and public key (the vkey's base64 part), in the form `ssh-keygen -l` prints."""
    raw = note.ALGORITHMS[verifier.algorithm] + verifier.public_key
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def parse_vkeys(origin: str, vkeys: Iterable[str]) -> list[tuple[str, note.Verifier]]:
    """Parse and sort vkeys into ("log" | "witness", verifier); ValueError says which is wrong.

    A log key carries the log's origin as its name; a witness key (cosignature/v1 or
    ML-DSA-44) carries its witness name, anything but the origin for ML-DSA-44."""
    out: list[tuple[str, note.Verifier]] = []
    seen: set[str] = set()
    for n, text in enumerate(vkeys, start=1):
        text = text.strip()
        try:
            v = note.parse_vkey(text)
        except note.NoteError as e:
            raise ValueError(f"key {n} ({text[:40]!r}...): {e}") from None
        if v.vkey in seen:
            raise ValueError(f"key {n} is given twice")
        seen.add(v.vkey)
        if v.algorithm == note.ALG_COSIG_V1 or (v.algorithm in WITNESS_ALGORITHMS and v.name != origin):
            out.append(("witness", v))
        elif v.name == origin and v.algorithm in LOG_ALGORITHMS:
            out.append(("log", v))
        else:
            raise ValueError(
                f"key {n} is a {v.algorithm} log key named {v.name!r}, not for the origin {origin!r}"
            )
    if len(out) > MAX_KEYS:
        raise ValueError(f"at most {MAX_KEYS} keys per peer")
    return out


def _clean(origin: str, url: str, role: str, name: str) -> tuple[str, str, str, str]:
    origin = (origin or "").strip()
    if not ORIGIN_RE.match(origin):
        raise ValueError("the origin must be 1-255 printable ASCII characters without spaces or '+'")
    if origin == ledger_services.origin():
        raise ValueError("that origin is this node's own log")
    if role not in dict(Peer.ROLES):
        raise ValueError(f"the role must be one of {', '.join(dict(Peer.ROLES))}")
    url = (url or "").strip().rstrip("/")
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise ValueError("the URL must be an http(s) URL") from None
    name = (name or "").strip()
    if len(name) > 200 or any(not c.isprintable() for c in name):
        raise ValueError("the name must be at most 200 printable characters")
    return origin, url, role, name


def add_peer(
    *, origin: str, vkeys: Iterable[str], url: str = "", role: str = Peer.ROLE_BOTH, name: str = ""
) -> Peer:
    """Trust a peer's keys for its origin. Idempotent: the same input again changes nothing;
    new keys for a known peer are added to the ones it had. A `log`/`both` peer needs a log
    key (to check its checkpoints), a `witness`/`both` peer a witness key (to check its
    cosignatures). An untrusted peer stays untrusted."""
    origin, url, role, name = _clean(origin, url, role, name)
    keys = parse_vkeys(origin, vkeys)
    if not keys:
        raise ValueError("give at least one key (--vkey)")
    try:
        return _add_peer(origin, keys, url, role, name)
    except IntegrityError:  # the same peer added at the same moment elsewhere: look again
        return _add_peer(origin, keys, url, role, name)


def _add_peer(origin: str, keys: list[tuple[str, note.Verifier]], url: str, role: str, name: str) -> Peer:
    with transaction.atomic():
        peer = Peer.objects.select_for_update().filter(origin=origin).first()
        existing = list(PeerKey.objects.filter(peer=peer)) if peer else []
        have = {k.vkey for k in existing}
        purposes = {k.purpose for k in existing} | {purpose for purpose, _ in keys}
        if role in (Peer.ROLE_LOG, Peer.ROLE_BOTH) and "log" not in purposes:
            raise ValueError(f"a peer with role {role} needs a log key named {origin!r}")
        if role in (Peer.ROLE_WITNESS, Peer.ROLE_BOTH) and "witness" not in purposes:
            raise ValueError(f"a peer with role {role} needs a witness key (cosignature/v1 or ml-dsa-44)")
        for _, v in keys:
            other = PeerKey.objects.filter(vkey=v.vkey).exclude(peer=peer).select_related("peer").first()
            if other is not None:
                raise ValueError(f"the key {v.name}+{v.key_id_hex} already belongs to {other.peer.origin}")
        if peer is None:
            peer = Peer.objects.create(origin=origin, url=url, role=role, name=name)
        else:
            changed = {"url": url or peer.url, "role": role, "name": name or peer.name}
            if any(getattr(peer, f) != value for f, value in changed.items()):
                for f, value in changed.items():
                    setattr(peer, f, value)
                peer.save(update_fields=[*changed, "updated_at"])
        for purpose, v in keys:
            if v.vkey not in have:
                PeerKey.objects.create(
                    peer=peer,
                    purpose=purpose,
                    vkey=v.vkey,
                    name=v.name,
                    key_id=v.key_id_hex,
                    algorithm=v.algorithm,
                )
    return peer


def mark_untrusted(peer: Peer, reason: str) -> None:
    """Stop trusting a peer (its checkpoints are refused, its cosignatures not counted)."""
    Peer.objects.filter(pk=peer.pk).update(trusted=False, untrusted_reason=reason[:300])
    peer.trusted, peer.untrusted_reason = False, reason[:300]


# --- selectors --------------------------------------------------------------------------------


def trusted_peer(origin: str) -> Peer | None:
    return Peer.objects.filter(origin=origin, trusted=True).first()


def _verifiers(peer: Peer, purpose: str) -> list[note.Verifier]:
    return [
        note.parse_vkey(k.vkey) for k in PeerKey.objects.filter(peer=peer, purpose=purpose).order_by("id")
    ]


def log_verifiers(peer: Peer) -> list[note.Verifier]:
    """The keys that sign the peer's checkpoints."""
    return _verifiers(peer, "log")


def witness_verifiers(peer: Peer) -> list[note.Verifier]:
    """The keys that sign the peer's cosignatures."""
    return _verifiers(peer, "witness")
