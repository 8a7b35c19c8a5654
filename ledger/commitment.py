"""Salted commitments for ledger entries of format v2 (no Django).

A v2 entry's public payload is ``{"commitments": [hex, ...]}``: every fact of the event (who,
which scan, the diagnosis, the model, the pixel hash ...) is hidden behind

    commitment = SHA-256(DOMAIN || canonical JSON of {"field": field, "salt": salt, "value": value})

with a fresh 32-byte random `salt` (64 lowercase hex) per field and per entry. The salt makes
equal values (the same patient, the same scan) give unrelated commitments in different
entries, so the public can neither read nor link them; the opening ``{"salt", "value"}`` of a
field (kept in the portal's private index and handed to authorised readers in their receipts)
proves its value, alone or with others. The list is sorted and padded with random 32-byte
values to a multiple of `PAD_TO`, so neither the field names nor whether an optional field
(a modality, a simulated acquisition) is present show. Fingerprints are fields ``fp:<name>``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from ledger import canonical

DOMAIN = b"qmedchain/ledger/commitment/v2\n"
PAD_TO = 8
SALT_RE = re.compile(r"^[0-9a-f]{64}$")
COMMITMENT_RE = SALT_RE


class OpeningError(ValueError):
    """An opening is malformed or does not match its commitment."""


def new_salt() -> str:
    return secrets.token_hex(32)


def commit(field: str, value: Any, salt: str) -> str:
    """Hex SHA-256 commitment to (`field`, `value`) under `salt` (64 hex)."""
    if not isinstance(salt, str) or not SALT_RE.match(salt):
        raise OpeningError("salt must be 64 lowercase hex characters")
    if not isinstance(field, str) or not field:
        raise OpeningError("field must be a non-empty string")
    try:
        body = canonical.canonical_bytes({"field": field, "salt": salt, "value": value})
    except canonical.CanonicalError as exc:
        raise OpeningError(f"value of {field!r} has no canonical form: {exc}") from None
    return hashlib.sha256(DOMAIN + body).hexdigest()


def commit_all(facts: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """(commitments, openings) for every field of `facts`, each with its own fresh salt; the
    commitments sorted and padded with random values to a multiple of `PAD_TO`."""
    commitments: list[str] = []
    openings: dict[str, dict[str, Any]] = {}
    padded = max(PAD_TO, -(-len(facts) // PAD_TO) * PAD_TO)  # commitments after padding
    # every salt and padding value from one draw of the system's generator (one call, not one
    # per field: an access event commits a dozen fields on the request path)
    fresh = secrets.token_hex(32 * padded)
    randoms = [fresh[i : i + 64] for i in range(0, len(fresh), 64)]
    for (field, value), salt in zip(facts.items(), randoms, strict=False):
        commitments.append(commit(field, value, salt))
        openings[field] = {"salt": salt, "value": value}
    commitments += randoms[len(facts) :]
    return sorted(commitments), openings


def check_openings(commitments: object, openings: object) -> dict[str, Any]:
    """The opened values ({field: value}) when the commitment of every opening is one of
    `commitments`; raises OpeningError naming the first field whose opening is not."""
    if not isinstance(commitments, list):
        raise OpeningError("the entry has no commitments (not a v2 entry)")
    if not isinstance(openings, dict) or not openings:
        raise OpeningError("openings must be a non-empty object {field: {salt, value}}")
    committed = {c for c in commitments if isinstance(c, str)}
    opened: dict[str, Any] = {}
    for field in sorted(openings):
        o = openings[field]
        if not isinstance(o, dict) or set(o) != {"salt", "value"}:
            raise OpeningError(f"opening of {field!r} must be an object with salt and value")
        if commit(field, o["value"], o["salt"]) not in committed:
            raise OpeningError(f"opening of {field!r} matches none of the entry's commitments")
        opened[field] = o["value"]
    return opened
