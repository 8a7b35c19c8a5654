"""The signed clinician directory (`GET /network/directory`) and its sync at a peer.

B side (`signed_directory`): a C2SP signed note whose text is the canonical JSON
`{"origin", "node", "version", "issued_at", "clinicians": [{"id", "display_name",
"organisation", "public_key", "fingerprint"}]}` and a newline, signed like the node card by the
log's Ed25519 and Falcon-512 keys. `version` is the issue time in milliseconds, so a newer
directory has a larger version.

A side (`fetch_and_sync`): learn the peer's node key from its verified card, fetch the
directory, verify it with the log keys trusted for the peer, refuse an older version than one
synced before (a replayed directory would bring back removed clinicians), then make each
clinician a shadow user here (role `remote_clinician`, no usable password, the published
public key without a private key) and deactivate those no longer listed. A directory that
fails any check changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max

from crypto import hybrid_kem
from federation import card, http
from federation.keys import log_signers
from federation.models import Peer, RemoteClinician
from federation.nodeauth import fetch_node_key, store_node_key
from federation.peers import log_verifiers
from ledger import canonical, note
from ledger import services as ledger_services
from portal import keys as portal_keys
from portal.models import Role, User

DIRECTORY_VERSION = "qmedchain-directory/v1"
DIRECTORY_PATH = "/network/directory"
# one peer answer (federation.http) is at most 1 MiB: about 500 clinicians of ~2 KB each
MAX_DIRECTORY = http.MAX_RESPONSE_BYTES
MAX_CLINICIANS = 1000
CACHE_SECONDS = 300
CACHE_KEY = "qmc-directory:newest"


class DirectoryError(ValueError):
    """A directory that is malformed, not signed by the peer's log keys, or older than one
    synced before."""


@dataclass(frozen=True)
class SyncResult:
    peer: Peer
    version: int
    node_key_id: str
    added: int = 0
    updated: int = 0
    deactivated: int = 0


# --- B side -------------------------------------------------------------------------------------


def listed_clinicians() -> list[dict[str, str]]:
    """This node's active clinicians as the directory lists them (a key pair is made for one
    that has none yet: a peer can only wrap data keys for a published key)."""
    out = []
    for user in (
        User.objects.filter(role=Role.CLINICIAN, is_active=True).select_related("organisation").order_by("id")
    ):
        pair = portal_keys.keypair_for(user)
        out.append(
            {
                "id": str(user.pk),
                "display_name": user.display_name(),
                "organisation": user.organisation.name if user.organisation else "",
                "public_key": base64.b64encode(bytes(pair.public_key)).decode(),
                "fingerprint": pair.fingerprint,
            }
        )
    return out


def signed_directory() -> str:
    """The signed directory; the same text while the list is unchanged (at most five minutes:
    a request should not cost a Falcon signature). Only the newest is kept, so a list that
    changes back gets a new, larger version, never the older note again."""
    clinicians = listed_clinicians()
    digest = hashlib.sha256(canonical.dumps(clinicians).encode()).hexdigest()
    cached = cache.get(CACHE_KEY)
    if isinstance(cached, list | tuple) and len(cached) == 2 and cached[0] == digest:
        return str(cached[1])
    now_ms = int(time.time() * 1000)
    text = (
        canonical.dumps(
            {
                "directory": DIRECTORY_VERSION,
                "origin": ledger_services.origin(),
                "node": str(settings.FEDERATION_NODE_NAME),
                "version": now_ms,
                "issued_at": now_ms // 1000,
                "clinicians": clinicians,
            }
        )
        + "\n"
    )
    signed = note.sign_note(text, log_signers(card.CARD_ALGORITHMS))
    cache.set(CACHE_KEY, [digest, signed], timeout=CACHE_SECONDS)
    return signed


# --- A side -------------------------------------------------------------------------------------


def verify_directory(text: str, peer: Peer) -> dict[str, Any]:
    """The directory's content once its signatures verify with the peer's trusted log keys
    (one of each type given, as for the node card) and it is well formed."""
    if len(text) > MAX_DIRECTORY:
        raise DirectoryError("the directory is too large")
    verifiers = [v for v in log_verifiers(peer) if v.algorithm in card.CARD_ALGORITHMS]
    if not verifiers:
        raise DirectoryError("no Ed25519 or Falcon-512 log key is trusted for the peer")
    data = card.open_signed_json(text, verifiers, DirectoryError, "directory")
    if data.get("directory") != DIRECTORY_VERSION:
        raise DirectoryError(f"not a {DIRECTORY_VERSION} directory")
    if data.get("origin") != peer.origin:
        raise DirectoryError("the directory names another origin than the peer")
    if type(data.get("version")) is not int or data["version"] < 0:
        raise DirectoryError("the directory has no version")
    clinicians = data.get("clinicians")
    if not isinstance(clinicians, list) or len(clinicians) > MAX_CLINICIANS:
        raise DirectoryError(f"the directory must list at most {MAX_CLINICIANS} clinicians")
    data["clinicians"] = [_clinician_entry(n, c) for n, c in enumerate(clinicians, start=1)]
    if len({c["id"] for c in data["clinicians"]}) != len(data["clinicians"]):
        raise DirectoryError("the directory lists a clinician twice")
    return data


def _text(value: Any, n: int, name: str, *, required: bool) -> str:
    if not isinstance(value, str) or len(value) > 200 or (required and not value.strip()):
        raise DirectoryError(f"clinician {n}: {name} must be text of at most 200 characters")
    if any(not c.isprintable() for c in value):
        raise DirectoryError(f"clinician {n}: {name} has control characters")
    return value.strip()


def _clinician_entry(n: int, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise DirectoryError(f"clinician {n} is not an object")
    try:
        remote_id = uuid.UUID(str(entry.get("id")))
        public = base64.b64decode(str(entry.get("public_key", "")), validate=True)
        fingerprint = hybrid_kem.key_fingerprint(public)
    except (ValueError, binascii.Error):
        raise DirectoryError(f"clinician {n}: a bad id or public key") from None
    if entry.get("fingerprint") != fingerprint:
        raise DirectoryError(f"clinician {n}: the fingerprint does not match the public key")
    return {
        "id": remote_id,
        "display_name": _text(entry.get("display_name"), n, "display_name", required=True),
        "organisation": _text(entry.get("organisation", ""), n, "organisation", required=False),
        "public_key": public,
        "fingerprint": fingerprint,
    }


def fetch_and_sync(peer: Peer) -> SyncResult:
    """Learn the peer's node key (from its verified card) and sync its clinician directory.
    Raises DirectoryError, `card.CardError` or `http.PeerUnreachable`; then nothing changed."""
    node_key = fetch_node_key(peer)
    answer = http.get(peer.url.rstrip("/") + DIRECTORY_PATH)
    if answer.status != 200:
        raise DirectoryError(f"the directory answered HTTP {answer.status}")
    data = verify_directory(answer.text, peer)
    with transaction.atomic():
        result = sync(peer, data, node_key_id=node_key[0])
        store_node_key(peer, node_key)
    return result


def sync(peer: Peer, data: dict[str, Any], *, node_key_id: str = "") -> SyncResult:
    """Apply a VERIFIED directory (`verify_directory`)."""
    version = int(data["version"])
    added = updated = 0
    with transaction.atomic():
        Peer.objects.select_for_update().get(pk=peer.pk)  # one sync of a peer at a time
        last = RemoteClinician.objects.filter(peer=peer).aggregate(v=Max("directory_version"))["v"]
        if last is not None and version < last:
            raise DirectoryError(f"the directory (version {version}) is older than the one synced ({last})")
        known = {r.remote_id: r for r in RemoteClinician.objects.filter(peer=peer).select_related("user")}
        for entry in data["clinicians"]:
            remote = known.get(entry["id"])
            if remote is None:
                _add(peer, entry, version)
                added += 1
            elif _update(remote, entry, version):
                updated += 1
        listed = {e["id"] for e in data["clinicians"]}
        gone = [r for r in known.values() if r.remote_id not in listed and r.active]
        for remote in gone:
            remote.active = False
            remote.directory_version = version
            remote.save(update_fields=["active", "directory_version", "updated_at"])
            User.objects.filter(pk=remote.user_id).update(is_active=False)
        RemoteClinician.objects.filter(peer=peer).exclude(remote_id__in=[r.remote_id for r in gone]).update(
            directory_version=version
        )
    return SyncResult(
        peer=peer,
        version=version,
        node_key_id=node_key_id,
        added=added,
        updated=updated,
        deactivated=len(gone),
    )


def _add(peer: Peer, entry: dict[str, Any], version: int) -> RemoteClinician:
    user = User(
        username=f"remote.{peer.pk}.{entry['id']}",
        role=Role.REMOTE_CLINICIAN,
        first_name=entry["display_name"][:150],
    )
    user.set_unusable_password()
    user.save()
    portal_keys.set_remote_public_key(user, entry["public_key"])
    return RemoteClinician.objects.create(
        user=user,
        peer=peer,
        remote_id=entry["id"],
        display_name=entry["display_name"],
        organisation=entry["organisation"],
        fingerprint=entry["fingerprint"],
        directory_version=version,
    )


def _update(remote: RemoteClinician, entry: dict[str, Any], version: int) -> bool:
    """Bring a known clinician up to the directory; True when anything changed."""
    changed = False
    if (remote.display_name, remote.organisation) != (entry["display_name"], entry["organisation"]):
        remote.display_name, remote.organisation = entry["display_name"], entry["organisation"]
        User.objects.filter(pk=remote.user_id).update(first_name=entry["display_name"][:150])
        changed = True
    if remote.fingerprint != entry["fingerprint"]:
        # data keys wrapped for the old key stay unreadable for the new one until re-wrapped
        portal_keys.set_remote_public_key(remote.user, entry["public_key"])
        remote.fingerprint = entry["fingerprint"]
        changed = True
    if not remote.active or not remote.user.is_active:
        remote.active = True
        User.objects.filter(pk=remote.user_id).update(is_active=True)
        changed = True
    if changed:
        remote.directory_version = version
        remote.save()
    return changed
