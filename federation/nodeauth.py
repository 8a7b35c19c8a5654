"""Node-to-node requests, authenticated with HTTP Message Signatures (RFC 9421, Ed25519).

The calling node (B) signs with its node key (`federation.keys.node_signer`), covering
`@method`, `@target-uri`, the acting clinician (`x-qmc-clinician`, the clinician's user id at
B) and, when there is a body, `content-digest`, with `created`, `nonce` and a `tag`. The
receiving node (A) knows B's node key only from B's node card verified with the log keys
trusted for B (`learn_node_key`), and refuses: a missing or malformed signature, an unknown
key id, `created` outside +/-300 s, a signature or digest that does not verify, a nonce
already seen (replay; nonces are kept 15 minutes, longer than a signature stays fresh) and a
clinician absent from B's signed directory as synced here (`federation.directory`). Each
refusal is a `NodeAuthError` (401, or 403 for the clinician), recorded as a
`NodeAuthRefusal` row and a log line, with nothing else stored.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from http_message_signatures.digests import ContentDigest

from federation import card, http
from federation.keys import node_key_id, node_signer
from federation.models import NodeAuthRefusal, NodeKey, NodeNonce, Peer, RemoteClinician
from federation.peers import log_verifiers
from portal.models import User

logger = logging.getLogger(__name__)

CLINICIAN_HEADER = "X-QMC-Clinician"
LABEL = "qmc"
TAG = "qmedchain-node"
WINDOW_SECONDS = 300
NONCE_KEEP = datetime.timedelta(minutes=15)
MAX_NONCE = 128
COMPONENTS = ("@method", "@target-uri", "x-qmc-clinician")
PROBLEM = "application/problem+json"
CARD_PATH = "/.well-known/qmedchain-node"


class NodeAuthError(Exception):
    """A refused node-to-node request: an RFC 9457 problem (`status`, `title`, `detail`)."""

    def __init__(self, status: int, title: str, detail: str):
        super().__init__(f"{title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail

    def problem(self) -> dict[str, Any]:
        return {"type": "about:blank", "title": self.title, "status": self.status, "detail": self.detail}

    def response(self) -> JsonResponse:
        """The problem as a response, for a plain Django view."""
        r = JsonResponse(self.problem(), status=self.status, content_type=PROBLEM)
        if self.status == 401:
            r["WWW-Authenticate"] = WWW_AUTHENTICATE
        return r


WWW_AUTHENTICATE = 'Signature realm="qmedchain-node"'


@dataclass(frozen=True)
class NodeCaller:
    """Who made a verified node request: the peer node and its clinician (the shadow user here)."""

    peer: Peer
    clinician: User
    key_id: str = ""


@dataclass
class _Message:
    """The request as http_message_signatures reads it."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def _timestamp(at: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(at, tz=datetime.UTC)


# --- B side: sign -------------------------------------------------------------------------------


def signed_headers(
    method: str,
    url: str,
    body: bytes,
    clinician_id: str,
    *,
    created: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers that authenticate a request of this node's clinician `clinician_id` (its
    user id here) to a peer: `X-QMC-Clinician`, `Signature-Input`, `Signature` and, for a
    body, `Content-Digest`. `url` is the full URL the request goes to."""
    key_id, private = node_signer()
    message = _Message(method.upper(), url, {CLINICIAN_HEADER: str(clinician_id)})
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: private}),
    )
    signer.sign(
        message,
        key_id=key_id,
        created=_timestamp(int(time.time()) if created is None else created),
        nonce=nonce or secrets.token_urlsafe(24),
        label=LABEL,
        tag=TAG,
        covered_component_ids=COMPONENTS,
        body=body or None,
    )
    return dict(message.headers)


# --- A side: learn a peer's node key ------------------------------------------------------------


def learn_node_key(peer: Peer) -> NodeKey:
    """Fetch the peer's node card, verify it with the log keys trusted for the peer, and keep
    the node key it names. Raises `card.CardError` or `http.PeerUnreachable`."""
    return store_node_key(peer, fetch_node_key(peer))


def fetch_node_key(peer: Peer) -> tuple[str, bytes]:
    """(key id, public key) of the node key in the peer's node card, once the card verified
    with the log keys trusted for the peer; nothing stored."""
    if not peer.trusted:
        raise card.CardError(f"{peer.origin} is not trusted")
    if not peer.url:
        raise http.PeerUnreachable(f"no URL is known for {peer.origin}")
    answer = http.get(peer.url.rstrip("/") + CARD_PATH)
    if answer.status != 200:
        raise card.CardError(f"the node card answered HTTP {answer.status}")
    data = card.verify_card(answer.text, log_verifiers(peer))
    if data.get("origin") != peer.origin:
        raise card.CardError("the node card is for another origin")
    return parse_node_key(data.get("node_key"))


def parse_node_key(entry: Any) -> tuple[str, bytes]:
    """(key id, public key) of a verified card's `node_key` entry."""
    if not isinstance(entry, dict) or entry.get("alg") != "ed25519":
        raise card.CardError("the node card carries no Ed25519 node key")
    try:
        public = base64.b64decode(str(entry.get("key", "")), validate=True)
        ed25519.Ed25519PublicKey.from_public_bytes(public)
    except (binascii.Error, ValueError):
        raise card.CardError("the node card's node key is not an Ed25519 public key") from None
    key_id = node_key_id(public)
    if entry.get("keyid") != key_id:
        raise card.CardError("the node card's node key id does not match its key")
    return key_id, public


def store_node_key(peer: Peer, node_key: tuple[str, bytes]) -> NodeKey:
    """Keep a peer's node key from its verified card; a new key retires the one known before."""
    key_id, public = node_key
    with transaction.atomic():
        Peer.objects.select_for_update().filter(pk=peer.pk).first()
        key = NodeKey.objects.filter(peer=peer, key_id=key_id).first()
        NodeKey.objects.filter(peer=peer, retired_at__isnull=True).exclude(key_id=key_id).update(
            retired_at=timezone.now()
        )
        if key is None:
            key = NodeKey.objects.create(peer=peer, key_id=key_id, public_key=public)
        elif key.retired_at is not None:  # the peer went back to a key it had
            key.retired_at = None
            key.save(update_fields=["retired_at"])
    return key


# --- A side: verify -----------------------------------------------------------------------------


@dataclass
class _Seen:
    """What a refusal row records of the request (filled in as verification goes)."""

    method: str
    path: str
    peer: Peer | None = None
    key_id: str = ""
    clinician_id: str = ""


def target_uri(request: HttpRequest) -> str:
    """The URI the caller must have signed: this node's public base URL and the request's path
    (not the Host header, which a proxy may rewrite)."""
    return str(settings.FEDERATION_BASE_URL).rstrip("/") + request.get_full_path()


def verify(request: HttpRequest) -> NodeCaller:
    """The verified caller of a node request, or NodeAuthError (recorded)."""
    seen = _Seen(method=(request.method or "")[:8], path=request.path[:300])
    try:
        return _verify(request, seen)
    except NodeAuthError as exc:
        _record(exc, seen)
        raise


def _signature_params(headers: Any) -> dict[str, Any]:
    """The parameters of the request's node signature (the one tagged `qmedchain-node`)."""
    raw_input, raw_sig = headers.get("Signature-Input"), headers.get("Signature")
    if not raw_input or not raw_sig:
        raise NodeAuthError(
            401,
            "Signature required",
            "This endpoint answers requests signed by a peer node (HTTP Message Signatures, RFC 9421).",
        )
    try:
        parsed = http_sf.parse(raw_input.encode("latin-1"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError):
        parsed = None
    if not isinstance(parsed, dict):
        raise NodeAuthError(
            401, "Malformed signature", "The Signature-Input header is not a structured field."
        )
    ours = [
        params for member, params in parsed.values() if isinstance(member, list) and params.get("tag") == TAG
    ]
    if len(ours) != 1:
        raise NodeAuthError(401, "Malformed signature", f"Exactly one signature must carry tag={TAG!r}.")
    return dict(ours[0])


def _verify(request: HttpRequest, seen: _Seen) -> NodeCaller:
    headers = request.headers  # case-insensitive
    seen.clinician_id = headers.get(CLINICIAN_HEADER, "")[:64]
    params = _signature_params(headers)
    key_id = params.get("keyid")
    if not isinstance(key_id, str) or not key_id:
        raise NodeAuthError(401, "Malformed signature", "The signature names no key id.")
    seen.key_id = key_id[:64]
    key = (
        NodeKey.objects.filter(key_id=key_id, peer__isnull=False, peer__trusted=True, retired_at__isnull=True)
        .select_related("peer")
        .first()
    )
    if key is None or key.peer is None:
        raise NodeAuthError(
            401,
            "Unknown key",
            "The signature's key id is not the node key of a trusted peer "
            "(a peer's node key is learned from its verified node card).",
        )
    peer = seen.peer = key.peer
    created = params.get("created")
    if type(created) is not int:
        raise NodeAuthError(401, "Malformed signature", "The signature carries no integer 'created' time.")
    now = time.time()
    if created < now - WINDOW_SECONDS:
        raise NodeAuthError(
            401, "Signature expired", f"The signature was created more than {WINDOW_SECONDS} s ago."
        )
    if created > now + WINDOW_SECONDS:
        raise NodeAuthError(
            401,
            "Signature from the future",
            f"The signature was created more than {WINDOW_SECONDS} s from now; check the clocks.",
        )
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= MAX_NONCE:
        raise NodeAuthError(
            401, "Malformed signature", f"The signature needs a nonce of 16 to {MAX_NONCE} characters."
        )
    body = request.body
    digest = headers.get("Content-Digest")
    if body or digest is not None:
        if digest is None:
            raise NodeAuthError(
                401, "Content digest required", "A request with a body must carry Content-Digest."
            )
        try:
            ContentDigest.verify(digest, body)
        except (InvalidSignature, HTTPMessageSignaturesException):
            raise NodeAuthError(
                401, "Content digest mismatch", "The Content-Digest header does not match the request body."
            ) from None
    _check_signature(request, key, body if (body or digest is not None) else None)
    clinician = _clinician(peer, headers.get(CLINICIAN_HEADER, ""))
    _claim_nonce(peer, nonce)
    return NodeCaller(peer=peer, clinician=clinician, key_id=key_id)


def _check_signature(request: HttpRequest, key: NodeKey, body: bytes | None) -> None:
    message = _Message((request.method or "").upper(), target_uri(request), dict(request.headers.items()))
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(
            public_keys={key.key_id: ed25519.Ed25519PublicKey.from_public_bytes(bytes(key.public_key))},
            private_keys={},
        ),
    )
    verifier.max_clock_skew = datetime.timedelta(seconds=WINDOW_SECONDS)
    required = COMPONENTS + (("content-digest",) if body is not None else ())
    try:
        verifier.verify(
            message, max_age=datetime.timedelta(0), expect_tag=TAG, require_components=required, body=body
        )
    except (InvalidSignature, HTTPMessageSignaturesException):
        raise NodeAuthError(
            401,
            "Bad signature",
            f"The signature does not verify with the peer's node key; it must cover {', '.join(required)} "
            f"with @target-uri {message.url}.",
        ) from None


def _clinician(peer: Peer, header: str) -> User:
    try:
        remote_id = uuid.UUID(header)
    except ValueError:
        raise NodeAuthError(
            403,
            "Unknown clinician",
            f"The {CLINICIAN_HEADER} header must be the clinician's user id at the peer.",
        ) from None
    remote = (
        RemoteClinician.objects.filter(peer=peer, remote_id=remote_id, active=True, user__is_active=True)
        .select_related("user")
        .first()
    )
    if remote is None:
        raise NodeAuthError(
            403,
            "Clinician not in the directory",
            f"The clinician is not in the signed clinician directory of {peer.name or peer.origin} "
            "as this node last synced it.",
        )
    return remote.user


def _claim_nonce(peer: Peer, nonce: str) -> None:
    now = timezone.now()
    NodeNonce.objects.filter(seen_at__lt=now - NONCE_KEEP).delete()
    try:
        with transaction.atomic():
            NodeNonce.objects.create(peer=peer, nonce=nonce, seen_at=now)
    except IntegrityError:
        raise NodeAuthError(401, "Replayed request", "This signature's nonce was already used.") from None


def _record(exc: NodeAuthError, seen: _Seen) -> None:
    NodeAuthRefusal.objects.create(
        peer=seen.peer,
        key_id=seen.key_id,
        clinician_id=seen.clinician_id,
        method=seen.method,
        path=seen.path,
        status=exc.status,
        title=exc.title[:100],
        detail=exc.detail[:300],
    )
    logger.warning(
        "node request refused: %s %s from %s (key %s): %s",
        seen.method,
        seen.path,
        seen.peer.origin if seen.peer else "an unknown node",
        seen.key_id or "-",
        exc.title,
    )
