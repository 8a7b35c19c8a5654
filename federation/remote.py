"""The clinician's node (B) in the exchange: what other hospitals share with one of this node's
clinicians, and opening one of those scans.

`shared_with(clinician)` asks every trusted peer with a URL (`GET /federation/v1/shared`,
signed with this node's node key for the clinician, `federation.nodeauth.signed_headers`).
`open_scan(clinician, peer, scan_id)` fetches the scan's document and the ciphertext of its
preview from the peer (A), then checks before anything is shown:

1. the ciphertext is the object A named (size, SHA-256, CID; `federation.integrity`), else refused;
2. the data key A wrapped for the clinician's published public key opens with the private key
   only this node holds (`portal.keys.unwrap_received`), and AES-256-GCM authenticates every
   chunk (`crypto.envelope`), else refused;
3. the receipt of the scan's `scan.registered` entry verifies with A's log keys trusted here,
   its witnessed checkpoint meets the quorum (`quorum_policy`), carries this node's own
   cosignature and is consistent with what this node cosigned for A's log (`WitnessedLog`), and
   the entry opens the scan id, SHA-256 and CID of the object received: the integrity badge
   ("verified", or "not verified" and why).

Then the access is recorded on this node's ledger (`federation.remote_access`: A's origin and
the id of the access event A recorded, nothing about the patient or the scan). Each request is
tried up to `TRIES` times with backoff (a peer that is down, or cut off mid-transfer); what was
received is kept in memory only, so nothing partial is left when a peer goes away mid-fetch,
and plaintext is never written to disk.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.utils import timezone

from core.keyvault import pseudonym
from crypto import envelope
from federation import http, integrity
from federation.integrity import CiphertextMismatch, Cosigned, Verdict
from federation.keys import ensure_witness_keys, witness_verifiers
from federation.models import Peer, PeerKey, WitnessedLog
from federation.nodeauth import signed_headers
from federation.peers import log_verifiers
from ledger import note
from ledger.policy import Policy, PolicyLog, PolicyWitness, majority_policy
from ledger.services import record_event
from portal.keys import KeyAccessError, unwrap_received
from portal.models import Role, User

log = logging.getLogger(__name__)

TRIES = 3
BACKOFF = (0.3, 1.0)  # seconds before the second and the third try
SHOWN_KIND = "preview"  # what the viewer shows: the preview PNG the pipeline made at A
EVENT_TYPE = "federation.remote_access"
API = "/federation/v1"


class RemoteError(Exception):
    """A scan (or list) that cannot be shown: `status` for the page, `title` and `detail` for
    the clinician (no patient data)."""

    def __init__(self, status: int, title: str, detail: str):
        super().__init__(f"{title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail


@dataclass(frozen=True)
class SharedFrom:
    """One hospital's answer to "what do you share with this clinician": its patients, each
    with the scans, as that hospital listed them, or why it could not be asked."""

    peer: Peer
    patients: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class RemoteScan:
    peer: Peer
    scan: dict[str, Any]
    patient: dict[str, Any]
    diagnosis: dict[str, Any] | None
    preview_png: bytes = field(repr=False)
    integrity: Verdict
    remote_event_id: str  # the access event A recorded for this open
    local_event_id: uuid.UUID  # this node's `federation.remote_access` entry
    tries: int = 1  # requests made, retries included

    @property
    def preview_png_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.preview_png).decode()


# --- selectors ----------------------------------------------------------------------------------


def sharing_peers() -> list[Peer]:
    """The peers a clinician's request may go to: trusted, with a URL."""
    return list(Peer.objects.filter(trusted=True).exclude(url="").order_by("name", "origin"))


def peer_for(peer_id: int) -> Peer | None:
    return Peer.objects.filter(pk=peer_id, trusted=True).exclude(url="").first()


def quorum_policy(peer: Peer) -> Policy:
    """The quorum a peer's witnessed checkpoint must meet here: a majority of the witnesses this
    node knows — itself and every other trusted peer with a cosignature/v1 key — with the peer's
    Ed25519 log keys as the policy's log keys. (This node's own cosignature is required on top,
    by `integrity.check_receipt`.)"""
    own = ensure_witness_keys()[note.ALG_COSIG_V1]
    witnesses = {own.name: PolicyWitness(own.name, bytes(own.public_key))}
    others = (
        PeerKey.objects.filter(peer__trusted=True, purpose="witness", algorithm=note.ALG_COSIG_V1)
        .exclude(peer=peer)
        .order_by("peer_id", "-id")
    )
    counted: set[int] = set()
    for k in others:  # one key per witness, its newest: a witness that rotated counts once
        v = note.parse_vkey(k.vkey)
        if k.peer_id in counted or v.name in witnesses:
            continue
        if v.public_key not in {w.public_key for w in witnesses.values()}:
            witnesses[v.name] = PolicyWitness(v.name, v.public_key)
            counted.add(k.peer_id)
    logs = [PolicyLog(v.public_key) for v in log_verifiers(peer) if v.algorithm == note.ALG_ED25519]
    return majority_policy(list(witnesses.values()), logs)


def _cosigned(peer: Peer) -> tuple[int, bytes] | None:
    state = WitnessedLog.objects.filter(peer=peer).values_list("size", "root_hash").first()
    if state is None or not bytes(state[1]):
        return None
    return int(state[0]), bytes(state[1])


# --- HTTP to the peer ---------------------------------------------------------------------------


def _name(peer: Peer) -> str:
    return peer.name or peer.origin


def _problem_text(answer: http.Response) -> str:
    try:
        body = json.loads(answer.body)
    except ValueError:
        return ""
    if isinstance(body, dict):
        detail, title = body.get("detail"), body.get("title")
        return str(detail if isinstance(detail, str) and detail else title or "")[:300]
    return ""


def _signed_get(
    peer: Peer, clinician: User, path: str, *, max_bytes: int = http.MAX_RESPONSE_BYTES
) -> tuple[http.Response, int]:
    """(the peer's 200 answer, requests made). Unreachable, cut off mid-transfer or 5xx: tried
    again with backoff, up to TRIES; any other status: RemoteError with the peer's words."""
    url = peer.url.rstrip("/") + path
    last = ""
    for attempt in range(1, TRIES + 1):
        headers = signed_headers("GET", url, b"", str(clinician.pk))  # a fresh nonce each try
        try:
            answer = http.get(url, headers=headers, max_bytes=max_bytes)
        except http.PeerUnreachable as exc:
            last = str(exc)
        else:
            if answer.status == 200:
                return answer, attempt
            if answer.status < 500:
                raise _refusal(peer, answer)
            last = f"HTTP {answer.status}" + (f": {_problem_text(answer)}" if _problem_text(answer) else "")
        log.info("remote: %s try %d of %d failed: %s", peer.origin, attempt, TRIES, last[:200])
        if attempt < TRIES:
            time.sleep(BACKOFF[attempt - 1])
    raise RemoteError(
        503,
        f"{_name(peer)} is not answering",
        f"{_name(peer)} did not answer after {TRIES} tries ({last[:200]}). Nothing was kept here; "
        "try again in a moment.",
    )


def _refusal(peer: Peer, answer: http.Response) -> RemoteError:
    said = _problem_text(answer)
    if answer.status == 404:
        return RemoteError(404, "Not shared with you", said or "No such scan, or it is not shared with you.")
    if answer.status == 401:
        return RemoteError(
            502,
            f"{_name(peer)} did not accept this hospital's request",
            f"{said or 'The node signature was refused.'} An administrator should check that the two "
            "hospitals trust each other's keys.",
        )
    if answer.status == 403:
        return RemoteError(
            403, f"{_name(peer)} refused", said or "The patient's consent does not allow this."
        )
    return RemoteError(502, f"{_name(peer)} refused the request", said or f"HTTP {answer.status}")


def _json(peer: Peer, answer: http.Response) -> dict[str, Any]:
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RemoteError(502, f"{_name(peer)} sent an unreadable answer", "The answer is not a JSON object.")
    return body


# --- listing ------------------------------------------------------------------------------------


def shared_with(clinician: User) -> list[SharedFrom]:
    """What each trusted peer shares with `clinician` (one try each: a list page must not wait
    on a hospital that is down; it says so instead)."""
    out = []
    for peer in sharing_peers():
        url = peer.url.rstrip("/") + f"{API}/shared"
        try:
            answer = http.get(url, headers=signed_headers("GET", url, b"", str(clinician.pk)))
        except http.PeerUnreachable:
            out.append(SharedFrom(peer, error=f"{_name(peer)} is not answering right now."))
            continue
        if answer.status == 404:
            continue  # a peer without the node API shares nothing
        if answer.status != 200:
            said = _problem_text(answer) or f"HTTP {answer.status}"
            out.append(SharedFrom(peer, error=f"{_name(peer)} refused: {said}"))
            continue
        try:
            patients = _json(peer, answer).get("patients")
        except RemoteError as exc:
            out.append(SharedFrom(peer, error=exc.detail))
            continue
        if not isinstance(patients, list):
            out.append(SharedFrom(peer, error=f"{_name(peer)} sent an unreadable list."))
            continue
        out.append(SharedFrom(peer, patients=[p for p in patients if _listed_ok(p)]))
    return out


def _listed_ok(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("patient"), dict)
        and isinstance(entry.get("scans"), list)
        and all(isinstance(s, dict) and _uuid(s.get("id")) is not None for s in entry["scans"])
    )


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- opening a scan -----------------------------------------------------------------------------


def _object_entry(peer: Peer, doc: dict[str, Any]) -> dict[str, Any]:
    objects = doc.get("objects")
    entry = objects.get(SHOWN_KIND) if isinstance(objects, dict) else None
    if not isinstance(entry, dict):
        raise RemoteError(502, f"{_name(peer)} sent no image", "The scan's answer names no preview image.")
    try:
        entry["object_id"] = str(uuid.UUID(str(entry.get("object_id"))))
        entry["version"] = int(entry.get("version", 1))
        entry["size"] = int(entry.get("size"))
        wrapped = entry.get("wrapped_key")
        entry["wrapped_key"] = base64.b64decode(wrapped, validate=True) if wrapped else None
        entry["wrap_context"] = str(entry.get("wrap_context", "")).encode()
        if not all(isinstance(entry.get(k), str) for k in ("cid", "ciphertext_sha256", "kind")):
            raise ValueError("cid, ciphertext_sha256 and kind must be strings")
    except (TypeError, ValueError, binascii.Error) as exc:
        raise RemoteError(
            502, f"{_name(peer)} sent an unreadable answer", f"The image's entry: {exc}"
        ) from None
    if entry["kind"] != SHOWN_KIND or entry["size"] < 0:
        raise RemoteError(
            502, f"{_name(peer)} sent an unreadable answer", "The image's entry is inconsistent."
        )
    return entry


def _decrypt(peer: Peer, clinician: User, entry: dict[str, Any], blob: bytes) -> bytes:
    if entry["wrapped_key"] is None:
        raise RemoteError(
            403,
            "No key for you",
            f"{_name(peer)} holds no data key wrapped for you for this scan (the consent may have changed).",
        )
    # the wrap must be bound to this very object: a wrap of another object does not open it
    if not entry["wrap_context"].startswith(f"qmedchain.datakey:{entry['object_id']}:".encode()):
        raise RemoteError(
            502, "Refused: the key is for another object", "The data key's binding names another object."
        )
    try:
        key = unwrap_received(reader=clinician, wrapped=entry["wrapped_key"], context=entry["wrap_context"])
    except KeyAccessError as exc:
        raise RemoteError(
            403,
            "The key does not open",
            f"The data key {_name(peer)} sent does not open with your private key ({exc}). Your hospital's "
            "directory may have changed since it was wrapped.",
        ) from None
    try:
        plain = envelope.decrypt(
            blob, key, object_id=entry["object_id"], kind=entry["kind"], version=entry["version"]
        )
        if plain[:8] != b"\x89PNG\r\n\x1a\n":
            from imaging import neqr_layer

            if neqr_layer.is_layered(plain):  # the SIMULATED NEQR layer of the demo (imaging.neqr_layer)
                plain = neqr_layer.open(plain, key, object_id=entry["object_id"])
    except (envelope.IntegrityError, ValueError) as exc:
        log.warning("remote: an object from %s failed authentication: %s", peer.origin, exc)
        raise RemoteError(
            502,
            "Refused: the image failed its integrity check",
            "The image did not decrypt and authenticate; it is not shown.",
        ) from None
    if plain[:8] != b"\x89PNG\r\n\x1a\n":
        raise RemoteError(
            502, "Refused: not an image", "The decrypted preview is not a PNG image; it is not shown."
        )
    return plain


def _verdict(peer: Peer, doc: dict[str, Any], scan_id: uuid.UUID, entry: dict[str, Any]) -> Verdict:
    registration = doc.get("registration")
    receipt = registration.get("receipt") if isinstance(registration, dict) else None
    if receipt is None:
        return Verdict(
            False, f"{_name(peer)}'s ledger has not yet covered this scan's registration with a checkpoint"
        )
    state = _cosigned(peer)
    cosigned = None
    if state is not None:
        size, root = state
        claimed = integrity.witnessed_size(receipt)
        proof = None
        if claimed is not None and 0 < claimed < size:
            proof = _consistency(peer, claimed, size)
        cosigned = Cosigned(size, root, proof)
    return integrity.check_receipt(
        receipt,
        origin=peer.origin,
        log_keys=log_verifiers(peer),
        policy=quorum_policy(peer),
        own_witness=witness_verifiers(),
        cosigned=cosigned,
        expected=integrity.expected_facts(
            scan_id=str(scan_id), kind=entry["kind"], sha256_hex=entry["ciphertext_sha256"], cid=entry["cid"]
        ),
    )


def _consistency(peer: Peer, first: int, second: int) -> list[bytes] | None:
    """The peer's consistency proof between two sizes of its log (public; verified by the
    caller), or None when it cannot be had."""
    url = (
        peer.url.rstrip("/")
        + "/api/v1/ledger/proof/consistency?"
        + urlencode({"first": first, "second": second})
    )
    try:
        answer = http.get(url)
        body = json.loads(answer.body) if answer.status == 200 else None
        return [base64.b64decode(h, validate=True) for h in body["proof"]] if isinstance(body, dict) else None
    except (http.PeerUnreachable, ValueError, KeyError, TypeError, binascii.Error):
        return None


def open_scan(clinician: User, peer: Peer, scan_id: uuid.UUID) -> RemoteScan:
    """Fetch, check, decrypt and record one scan `peer` shares with `clinician` (see the module's
    docstring). RemoteError when it cannot be shown; nothing is stored then."""
    if clinician.role != Role.CLINICIAN or not clinician.is_active:
        raise RemoteError(
            403, "Clinicians only", "Only this hospital's clinicians open scans other hospitals share."
        )
    started = time.monotonic()
    answer, tries = _signed_get(peer, clinician, f"{API}/scans/{scan_id}")
    doc = _json(peer, answer)
    entry = _object_entry(peer, doc)
    access = doc.get("access")
    remote_event = _uuid(access.get("event_id")) if isinstance(access, dict) else None
    if remote_event is None:  # A records every request it answers; an answer without one is not A's
        raise RemoteError(
            502, f"{_name(peer)} sent an unreadable answer", "The answer names no recorded access."
        )
    # the ciphertext is the plaintext plus the envelope's overhead; a peer may not send more
    expect = entry["size"] + envelope.overhead(entry["size"], 1 << 16)
    blob_answer, more = _signed_get(
        peer, clinician, f"{API}/objects/{entry['object_id']}", max_bytes=max(expect, 1 << 16)
    )
    tries += more
    try:
        integrity.check_ciphertext(blob_answer.body, sha256_hex=entry["ciphertext_sha256"], cid=entry["cid"])
    except CiphertextMismatch as exc:
        log.warning("remote: an object from %s refused: %s", peer.origin, exc)
        raise RemoteError(
            502, "Refused: the image is not the one named", f"{exc}; it is not shown."
        ) from None
    preview = _decrypt(peer, clinician, entry, blob_answer.body)
    verdict = _verdict(peer, doc, scan_id, entry)
    local_event = _record_access(clinician, peer, remote_event, verdict)
    log.info(
        "remote: opened a scan of %s in %.0f ms (%d requests): %s",
        peer.origin,
        (time.monotonic() - started) * 1e3,
        tries,
        "verified" if verdict.verified else "not verified",
    )
    return RemoteScan(
        peer=peer,
        scan=doc.get("scan") if isinstance(doc.get("scan"), dict) else {},
        patient=doc.get("patient") if isinstance(doc.get("patient"), dict) else {},
        diagnosis=doc.get("diagnosis") if isinstance(doc.get("diagnosis"), dict) else None,
        preview_png=preview,
        integrity=verdict,
        remote_event_id=str(remote_event),
        local_event_id=local_event,
        tries=tries,
    )


def _record_access(clinician: User, peer: Peer, remote_event_id: uuid.UUID, verdict: Verdict) -> uuid.UUID:
    with transaction.atomic():
        return record_event(
            event_type=EVENT_TYPE,
            payload={
                "actor": pseudonym("user", clinician.pk),
                "role": clinician.role,
                "log_origin": peer.origin,
                "remote_event_id": remote_event_id,
                "action": "view",
                "decision": "allow",
                "status": "verified" if verdict.verified else "not-verified",
                "at": timezone.now(),
            },
        )
