"""What a ledger payload may hold (no Django).

Only pseudonymous ids, hashes, CIDs, enumerated words, numbers and timestamps — never free
text, names, e-mail addresses or raw ids of patients. Each event type has a set of allowed
field names; each field name has one shape:

=================  ===========================================================================
shape              accepted values
=================  ===========================================================================
pid                pseudonymous id: 32 lowercase hex (``core.keyvault.pseudonym``)
ref                a UUID, a pid, or a non-negative integer (ids of scans, consents, orgs ...)
sha256             64 lowercase hex
hex                16–128 lowercase hex (other digests, e.g. quantum-walk hashes)
key_id             8 lowercase hex (a ledger signing key ID)
cid                IPFS CID: CIDv0 (``Qm`` + 44 base58) or CIDv1 base32 (``b`` + [a-z2-7])
word               enumerated word: lowercase ``[a-z0-9][a-z0-9._:-]{0,47}``
words              list (at most 32) of words
int                non-negative integer
number             finite number
bool               true / false
ts                 ISO 8601 timestamp with a timezone (normalised to UTC ``...Z``)
commitments        sorted list of 8-256 distinct 64-hex values, a multiple of 8: the salted
                   SHA-256 commitments of the facts, padded (``ledger.commitment``)
=================  ===========================================================================

`uuid.UUID` values become strings, aware `datetime` values become ``ts`` strings.

Format v2. Events about patients (`V2_EVENT_TYPES`) are recorded in format v2: `clean_payload`
still checks the facts the caller gives, but the public entry holds only their commitments
(`clean_public_payload`). Nothing is in clear in a v2 payload: no diagnosis, label,
probability, modality or image size, no pseudonym and no scan or consent id, since any value
that repeats across entries would link a patient's entries together. The openings go to the
private index (`ledger.models.EntryOpening`). `key.rotated` and `model.registered` (facts
about the log's keys and the diagnosis models, no patient) stay in format v1.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime
from typing import Any

EVENT_TYPES = (
    "scan.registered",
    "scan.accessed",
    "access.denied",
    "consent.granted",
    "consent.revoked",
    "consent.expired",
    "breakglass.used",
    "key.rotated",
    "model.registered",
    "federation.equivocation",
    "federation.remote_access",
    "scan.deidentified",
    "patient.erased",
)


class PayloadError(ValueError):
    pass


PID_RE = re.compile(r"^[0-9a-f]{32}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
HEX_RE = re.compile(r"^(?:[0-9a-f]{2}){8,64}$")
KEY_ID_RE = re.compile(r"^[0-9a-f]{8}$")
CID_RE = re.compile(r"^(?:Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{40,120})$")
WORD_RE = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,47}$")
ORIGIN_RE = re.compile(r"^[\x21-\x2a\x2c-\x7e]{1,255}$")  # a log origin: a C2SP key name
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# field name -> shape
FIELDS: dict[str, str] = {
    # people, always pseudonymous
    "patient": "pid",
    "actor": "pid",
    "clinician": "pid",
    "reader": "pid",
    "grantee": "pid",
    "grantor": "pid",
    "uploader": "pid",
    "subject": "pid",
    # object references
    "scan_id": "ref",
    "consent_id": "ref",
    "organisation": "ref",
    "grantee_organisation": "ref",
    "request_id": "ref",
    "model_id": "word",
    "job_id": "ref",
    # hashes and content ids
    "sha256": "sha256",
    "pixel_sha256": "sha256",
    "original_sha256": "sha256",
    "ciphertext_sha256": "sha256",
    "derived_sha256": "sha256",
    "model_sha256": "sha256",
    "weights_sha256": "sha256",
    "public_key_sha256": "sha256",
    "manifest_sha256": "sha256",
    "qwalk_hash": "hex",
    "cid": "cid",
    "original_cid": "cid",
    "ciphertext_cid": "cid",
    "derived_cid": "cid",
    "log_origin": "origin",
    "evidence_id": "ref",
    "remote_event_id": "ref",
    "first_size": "int",
    "second_size": "int",
    "first_root": "sha256",
    "second_root": "sha256",
    "old_key_id": "key_id",
    "new_key_id": "key_id",
    "key_id": "key_id",
    # enumerations
    "kind": "word",
    "action": "word",
    "purpose": "word",
    "reason": "word",
    "role": "word",
    "decision": "word",
    "status": "word",
    "scope": "word",
    "scopes": "words",
    "diagnosis": "word",
    "label": "word",
    "modality": "word",
    "algorithm": "word",
    "version": "word",
    "format": "word",
    "via": "word",
    "storage": "word",
    "profile": "word",
    "options": "words",
    # numbers
    "score": "number",
    "confidence": "number",
    "probability": "number",
    "accuracy": "number",
    "auc": "number",
    "size_bytes": "int",
    "width": "int",
    "height": "int",
    "frames": "int",
    "attempt": "int",
    "duration_seconds": "int",
    "emergency": "bool",
    # times
    "at": "ts",
    "expires_at": "ts",
    "valid_from": "ts",
    "valid_until": "ts",
    "granted_at": "ts",
    "revoked_at": "ts",
    # format v2: the only public field
    "commitments": "commitments",
}

# never in clear in a v2 payload (all v1 fields are out of it; these are named for the tests
# and the documentation: health data and the references that link a patient's entries)
HEALTH_FIELDS = frozenset(
    "diagnosis label score confidence probability modality size_bytes width height frames kind "
    "pixel_sha256 original_sha256 qwalk_hash".split()
)

_COMMON = {"actor", "at", "request_id", "role", "organisation", "purpose", "reason", "via"}
_SCAN = {
    "scan_id",
    "version",
    "patient",
    "clinician",
    "uploader",
    "reader",
    "sha256",
    "pixel_sha256",
    "original_sha256",
    "ciphertext_sha256",
    "derived_sha256",
    "manifest_sha256",
    "qwalk_hash",
    "cid",
    "original_cid",
    "ciphertext_cid",
    "derived_cid",
    "model_id",
    "model_sha256",
    "diagnosis",
    "label",
    "score",
    "confidence",
    "probability",
    "modality",
    "format",
    "kind",
    "size_bytes",
    "width",
    "height",
    "frames",
    "storage",
    "status",
    "job_id",
    "attempt",
    "action",
    "decision",
}
_CONSENT = {
    "consent_id",
    "patient",
    "grantee",
    "grantor",
    "grantee_organisation",
    "scan_id",
    "scope",
    "scopes",
    "valid_from",
    "valid_until",
    "expires_at",
    "granted_at",
    "revoked_at",
    "status",
    "kind",
}

ALLOWED: dict[str, set[str]] = {
    "scan.registered": _COMMON | _SCAN,
    "scan.accessed": _COMMON | _SCAN | {"consent_id", "emergency"},
    "access.denied": _COMMON | _SCAN | {"consent_id", "emergency", "subject"},
    "consent.granted": _COMMON | _CONSENT,
    "consent.revoked": _COMMON | _CONSENT,
    "consent.expired": _COMMON | _CONSENT,
    "breakglass.used": _COMMON
    | {
        "scan_id",
        "patient",
        "clinician",
        "consent_id",
        "duration_seconds",
        "expires_at",
        "emergency",
        "scope",
        "action",
        "decision",
    },
    "key.rotated": _COMMON
    | {"old_key_id", "new_key_id", "key_id", "algorithm", "public_key_sha256", "kind", "subject"},
    "model.registered": _COMMON
    | {
        "model_id",
        "model_sha256",
        "weights_sha256",
        "version",
        "algorithm",
        "kind",
        "accuracy",
        "auc",
        "label",
        "format",
        "size_bytes",
    },
    # a peer's log signed two incompatible checkpoints (federation/evidence.py): about a log,
    # never a patient
    "federation.equivocation": _COMMON
    | {"log_origin", "kind", "first_size", "first_root", "second_size", "second_root", "evidence_id"},
    # this node's clinician opened a scan another node shared (federation/remote.py): that log's
    # origin and the id of the access event it recorded there, never the patient or the scan
    "federation.remote_access": _COMMON | {"log_origin", "remote_event_id", "action", "decision", "status"},
    # a de-identified instance went to a research caller (imaging.research): which profile and
    # options, by which library; the access decision itself is its scan.accessed entry
    "scan.deidentified": _COMMON | {"scan_id", "patient", "profile", "options", "algorithm"},
    # crypto-shredding (imaging/erasure.py): who, when, and a hash of the erased scans' ids
    "patient.erased": _COMMON | {"patient", "manifest_sha256", "status"},
}

# events about patients: format v2, commitments only (keys, models and logs are about no one)
V2_EVENT_TYPES = tuple(
    t
    for t in EVENT_TYPES
    if t not in ("key.rotated", "model.registered", "federation.equivocation", "federation.remote_access")
)
ALLOWED_V2: dict[str, set[str]] = {t: {"commitments"} for t in V2_EVENT_TYPES}
MAX_COMMITMENTS = 256
PAD_TO = 8  # ledger.commitment.PAD_TO

REQUIRED: dict[str, set[str]] = {
    "scan.registered": {"scan_id"},
    "scan.accessed": set(),  # patient-level reads (list, history) name no scan
    "access.denied": set(),
    "consent.granted": {"consent_id"},
    "consent.revoked": {"consent_id"},
    "consent.expired": {"consent_id"},
    "breakglass.used": {"actor"},
    "key.rotated": {"new_key_id"},
    "model.registered": {"model_id"},
    "federation.equivocation": {"log_origin", "evidence_id"},
    "federation.remote_access": {"log_origin", "remote_event_id"},
    "scan.deidentified": {"scan_id", "profile"},
    "patient.erased": {"patient", "manifest_sha256"},
}


def _ts(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PayloadError("naive datetime")
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PayloadError("not an ISO 8601 timestamp") from None
        if dt.tzinfo is None:
            raise PayloadError("timestamp has no timezone")
    else:
        raise PayloadError("not a timestamp")
    return dt.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _check(shape: str, value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        value = str(value)
    if shape == "ts":
        return _ts(value)
    if shape == "bool":
        if isinstance(value, bool):
            return value
        raise PayloadError("not a boolean")
    if shape in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PayloadError("not a number")
        if shape == "int" and (not isinstance(value, int) or value < 0 or value > 2**53 - 1):
            raise PayloadError("not a non-negative integer")
        if isinstance(value, float) and not math.isfinite(value):
            raise PayloadError("not a finite number")
        return value
    if shape == "words":
        if not isinstance(value, list | tuple) or len(value) > 32:
            raise PayloadError("not a list of at most 32 words")
        return [_check("word", v) for v in value]
    if shape == "commitments":
        raise PayloadError("commitments are only allowed in v2 payloads")
    if shape == "ref" and isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise PayloadError("negative id")
        return value
    if not isinstance(value, str):
        raise PayloadError("not a string")
    ok = {
        "pid": lambda v: PID_RE.match(v),
        "ref": lambda v: UUID_RE.match(v) or PID_RE.match(v),
        "sha256": lambda v: SHA256_RE.match(v),
        "hex": lambda v: HEX_RE.match(v),
        "key_id": lambda v: KEY_ID_RE.match(v),
        "cid": lambda v: CID_RE.match(v),
        "word": lambda v: WORD_RE.match(v),
        "origin": lambda v: ORIGIN_RE.match(v),
    }[shape](value)
    if not ok:
        raise PayloadError(f"is not a {shape}")
    return value


def clean_payload(event_type: str, payload: object) -> dict[str, Any]:
    """Validated, normalised copy of `payload`; raises PayloadError naming the problem."""
    if event_type not in EVENT_TYPES:
        raise PayloadError(f"unknown event type {event_type!r}; expected one of {', '.join(EVENT_TYPES)}")
    if not isinstance(payload, dict):
        raise PayloadError("payload must be a dict")
    allowed = ALLOWED[event_type]
    out = {}
    for key, value in payload.items():
        if not isinstance(key, str) or key not in allowed:
            raise PayloadError(
                f"field {key!r} is not allowed in {event_type} (allowed: {', '.join(sorted(allowed))})"
            )
        try:
            out[key] = _check(FIELDS[key], value)
        except PayloadError as exc:
            raise PayloadError(f"field {key!r} of {event_type}: {exc} (expected {FIELDS[key]})") from None
    missing = REQUIRED[event_type] - out.keys()
    if missing:
        raise PayloadError(f"{event_type} needs {', '.join(sorted(missing))}")
    return out


def event_version(event_type: str) -> int:
    """The entry format an event of this type is recorded in: 2 for events about patients."""
    return 2 if event_type in V2_EVENT_TYPES else 1


def clean_public_payload(event_type: str, payload: object) -> dict[str, Any]:
    """Validated copy of a v2 public payload: ``{"commitments": [64 hex, ...]}`` and nothing
    else (no field in clear); raises PayloadError naming the problem."""
    if event_type not in ALLOWED_V2:
        raise PayloadError(f"{event_type!r} has no v2 format; expected one of {', '.join(V2_EVENT_TYPES)}")
    if not isinstance(payload, dict):
        raise PayloadError("payload must be a dict")
    for key in payload:
        if key != "commitments":
            raise PayloadError(
                f"field {key!r} is not allowed in clear in a v2 {event_type} payload "
                "(only commitments; record the fact and it is committed)"
            )
    commitments = payload.get("commitments")
    if (
        not isinstance(commitments, list)
        or not PAD_TO <= len(commitments) <= MAX_COMMITMENTS
        or len(commitments) % PAD_TO
    ):
        raise PayloadError(
            f"commitments must be a list of {PAD_TO}-{MAX_COMMITMENTS} values, a multiple of {PAD_TO}"
        )
    for value in commitments:
        if not isinstance(value, str) or not SHA256_RE.match(value):
            raise PayloadError("a commitment is not a 64-hex SHA-256")
    if commitments != sorted(set(commitments)):
        raise PayloadError("commitments must be sorted and distinct")
    return {"commitments": list(commitments)}


def clean_fingerprints(fingerprints: object) -> dict[str, str] | None:
    """Extra fingerprints: {word: hex digest}, e.g. {"qwalk": "<hex>"}."""
    if fingerprints is None:
        return None
    if not isinstance(fingerprints, dict) or not fingerprints or len(fingerprints) > 8:
        raise PayloadError("fingerprints must be a non-empty dict of at most 8 entries")
    for k, v in fingerprints.items():
        if not isinstance(k, str) or not WORD_RE.match(k):
            raise PayloadError(f"fingerprint name {k!r} is not a word")
        if not isinstance(v, str) or not HEX_RE.match(v):
            raise PayloadError(f"fingerprint {k!r} is not lowercase hex (16-128 chars)")
    return dict(fingerprints)
