"""The node card (`GET /.well-known/qmedchain-node`): who this node is and where its protocol
endpoints are, as a C2SP signed note whose text is the card's canonical JSON and a newline,
signed by the log's Ed25519 and Falcon-512 keys. A peer that fetched it checks it with the
log keys it was given out of band (`verify_card`): the card never introduces a key by itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache

from federation.keys import log_signers, node_key_card_entry, show_keys, witness_name
from ledger import canonical, note

CARD_VERSION = "qmedchain-node/v1"
ADD_CHECKPOINT_PATH = "/witness/add-checkpoint"
TLOG_PREFIX = "/tlog/"
GOSSIP_PATH = "/network/gossip/cosigned"
# types whose signature covers the whole note text (ML-DSA-44 here signs checkpoints only)
CARD_ALGORITHMS = (note.ALG_ED25519, note.ALG_FALCON)
MAX_CARD = 64 * 1024
CARD_CACHE_SECONDS = 300


class CardError(ValueError):
    """A node card that is malformed, or not signed by the keys given for its origin."""


def card() -> dict[str, Any]:
    keys = show_keys()
    base = str(settings.FEDERATION_BASE_URL).rstrip("/")
    return {
        "card": CARD_VERSION,
        "name": str(settings.FEDERATION_NODE_NAME),
        "origin": keys["origin"],
        "witness_name": witness_name(),
        "base_url": base,
        "log_keys": keys["log"],
        "witness_keys": keys["witness"],
        # signs this node's requests to its peers (federation.nodeauth); trusted only as part
        # of a card verified with the log keys
        "node_key": node_key_card_entry(),
        "endpoints": {
            "add_checkpoint": base + ADD_CHECKPOINT_PATH,
            "tlog": base + TLOG_PREFIX,
            "gossip": base + GOSSIP_PATH,
        },
    }


def card_text(data: dict[str, Any]) -> str:
    return canonical.dumps(data) + "\n"


def signed_card() -> str:
    """The signed card; the same text for five minutes (Falcon signatures are randomised, and
    a request should not cost a signature)."""
    text = card_text(card())
    key = "qmc-node-card:" + hashlib.sha256(text.encode()).hexdigest()
    signed = cache.get(key)
    if not isinstance(signed, str):
        signed = note.sign_note(text, log_signers(CARD_ALGORITHMS))
        cache.set(key, signed, timeout=CARD_CACHE_SECONDS)
    return signed


def open_signed_json(
    text: str, verifiers: list[note.Verifier], error: type[Exception], what: str
) -> dict[str, Any]:
    """The canonical JSON object a signed note carries, once a signature of each of the
    verifiers' types verifies; `error` (with `what` naming the document) otherwise."""
    try:
        body, _ = note.open_note(text, verifiers, require={v.algorithm for v in verifiers})
    except note.NoteError as e:
        raise error(f"{what} signature: {e}") from None
    try:
        data = json.loads(body)
    except ValueError:
        raise error(f"the {what} text is not JSON") from None
    if not isinstance(data, dict) or card_text(data) != body:
        raise error(f"the {what} text is not a canonical JSON object")
    return data


def verify_card(text: str, log_vkeys: Iterable[str | note.Verifier]) -> dict[str, Any]:
    """The card's content, once its signatures verify with the peer's log keys (vkeys or
    verifiers, all named for one origin). It needs a verified signature of each type among
    the keys given (Ed25519, Falcon-512), so a card is as strong as the strongest key the
    reader trusts, and it must name that same origin. Raises CardError."""
    if len(text) > MAX_CARD:
        raise CardError("node card too large")
    try:
        verifiers = [v if isinstance(v, note.Verifier) else note.parse_vkey(v) for v in log_vkeys]
    except note.NoteError as e:
        raise CardError(f"bad log key: {e}") from None
    verifiers = [v for v in verifiers if v.algorithm in CARD_ALGORITHMS]
    if not verifiers:
        raise CardError("no Ed25519 or Falcon-512 log key to check the card with")
    origins = {v.name for v in verifiers}
    if len(origins) != 1:
        raise CardError("the log keys are named for more than one origin")
    data = open_signed_json(text, verifiers, CardError, "node card")
    if data.get("card") != CARD_VERSION:
        raise CardError("not a qmedchain-node/v1 card")
    if data.get("origin") not in origins:
        raise CardError("the node card names another origin than its keys")
    return data
