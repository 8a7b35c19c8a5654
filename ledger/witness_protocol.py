"""The c2sp.org/tlog-witness protocol: message formats and the witness's decision (no Django).

``POST <prefix>/add-checkpoint`` carries

    old <size the client believes the witness cosigned>\\n
    <0..63 lines: base64 hashes of an RFC 6962 consistency proof from old to the new size>
    \\n
    <signed checkpoint note>

and is answered with one of

* 200 — signature lines (the witness's cosignatures), `format_cosignatures`;
* 400 — malformed request, or old size greater than the checkpoint's (`ProtocolError`);
* 403 — no trusted log signature verifies, or a trusted key's signature fails (`UnknownKey`);
* 404 — the origin is unknown (`UnknownOrigin`);
* 409 — old size is not the witness's size; body `<size>\\n`, ``text/x.tlog.size``
  (`StaleOld`, `format_size`);
* 422 — the proof does not verify, a non-empty proof from size 0, the same size with
  another root, or a size-0 checkpoint whose root is not the empty tree's (`BadProof`).

`check_request` is the pure decision a view calls under the lock that makes check-and-store
atomic (the spec's rollback race); it never signs and never stores.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledger import merkle, note
from ledger.note import Checkpoint, Verifier

MAX_BODY = 1 << 20
MAX_PROOF_LINES = 63
MAX_SIZE = 2**63 - 1  # tree sizes are u64 on the wire; we store them in signed 64-bit columns
CONTENT_TYPE_SIZE = "text/x.tlog.size"
CONTENT_TYPE_TEXT = "text/plain; charset=utf-8"


class WitnessError(Exception):
    """A refusal of add-checkpoint; `status` is the HTTP status the spec assigns to it."""

    status = 400


class ProtocolError(WitnessError, ValueError):
    """Malformed request (400)."""

    status = 400


class UnknownOrigin(WitnessError):
    """The witness knows no log with this origin (404)."""

    status = 404


class UnknownKey(WitnessError):
    """No signature from a trusted log key verifies, or one fails to (403)."""

    status = 403


class StaleOld(WitnessError):
    """The old size is not the size the witness cosigned last (409)."""

    status = 409

    def __init__(self, current_size: int):
        super().__init__(f"the witness's latest cosigned size for this log is {current_size}")
        self.current_size = current_size


class BadProof(WitnessError):
    """The checkpoint is not provably consistent with what the witness cosigned (422).

    `checkpoint` is the (validly signed) checkpoint that failed, kept as possible evidence
    of a misbehaving log.
    """

    status = 422

    def __init__(self, message: str, checkpoint: Checkpoint | None = None):
        super().__init__(message)
        self.checkpoint = checkpoint


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: str  # the signed checkpoint note, as received

    @property
    def text(self) -> str:
        """The checkpoint note's text (without signatures)."""
        return note.split_note(self.checkpoint)[0]

    @property
    def parsed(self) -> Checkpoint:
        return note.parse_checkpoint(self.text)

    @property
    def origin(self) -> str:
        return self.parsed.origin


# --- decimal sizes -----------------------------------------------------------------------


def _parse_decimal(s: str, what: str) -> int:
    if not s or not s.isascii() or not s.isdigit() or (s != "0" and s.startswith("0")):
        raise ProtocolError(f"{what} is not a decimal number without leading zeroes")
    if len(s) > 19 or int(s) > MAX_SIZE:
        raise ProtocolError(f"{what} is too large")
    return int(s)


def _decode(body: bytes, what: str) -> str:
    if not isinstance(body, bytes | bytearray):
        raise ProtocolError(f"{what} must be bytes")
    if len(body) > MAX_BODY:
        raise ProtocolError(f"{what} is larger than {MAX_BODY} bytes")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"{what} is not valid UTF-8") from None
    if "\r" in text:
        raise ProtocolError(f"{what} must use LF line endings, not CRLF")
    return text


# --- add-checkpoint request ----------------------------------------------------------------


def _parse_hash(line: str, n: int) -> bytes:
    try:
        h = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"proof line {n} is not base64") from None
    if len(h) != merkle.HASH_SIZE or base64.b64encode(h).decode() != line:
        raise ProtocolError(f"proof line {n} is not the canonical base64 of a 32-byte hash")
    return h


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint request body strictly; ProtocolError says what is wrong."""
    text = _decode(body, "request body")
    head, sep, rest = text.partition("\n")
    if not sep:
        raise ProtocolError("request body has no old size line")
    if not head.startswith("old "):
        raise ProtocolError("the first line must be 'old <size>'")
    old = _parse_decimal(head[4:], "old size")
    proof: list[bytes] = []
    while True:
        line, sep, after = rest.partition("\n")
        if not sep:
            raise ProtocolError("request body has no empty line before the checkpoint")
        rest = after
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise ProtocolError(f"more than {MAX_PROOF_LINES} consistency proof lines")
        proof.append(_parse_hash(line, len(proof) + 1))
    try:
        cp_text, _ = note.split_note(rest)
        cp = note.parse_checkpoint(cp_text)
    except note.NoteError as exc:
        raise ProtocolError(f"malformed checkpoint: {exc}") from None
    if cp.size > MAX_SIZE:
        raise ProtocolError("checkpoint size is too large")
    return AddCheckpoint(old, tuple(proof), rest)


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], signed_checkpoint: str) -> bytes:
    if not 0 <= old_size <= MAX_SIZE:
        raise ValueError("old size out of range")
    if len(proof) > MAX_PROOF_LINES or any(len(h) != merkle.HASH_SIZE for h in proof):
        raise ValueError("a consistency proof is at most 63 hashes of 32 bytes")
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + signed_checkpoint).encode()


# --- responses -------------------------------------------------------------------------------


def format_cosignatures(lines: Sequence[str]) -> bytes:
    """The 200 body: one or more signature lines, each ending in a newline."""
    if not lines:
        raise ValueError("a cosignature response has at least one signature line")
    out = []
    for line in lines:
        line = line[:-1] if line.endswith("\n") else line
        note.parse_signature_line(line)
        out.append(line + "\n")
    return "".join(out).encode()


def parse_cosignatures(body: bytes) -> list[str]:
    """Signature lines (each ending in a newline) of a 200 body; nothing is verified here.

    Verify them by appending them to the checkpoint (`note.add_signatures`) and calling
    `note.verified_signatures` with the witness keys you trust.
    """
    text = _decode(body, "cosignature response")
    if not text.endswith("\n"):
        raise ProtocolError("cosignature response must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) > note.MAX_SIGNATURES:
        raise ProtocolError("too many signature lines")
    for line in lines:
        if any(ord(c) < 0x20 for c in line):
            raise ProtocolError("cosignature response contains control characters")
        try:
            note.parse_signature_line(line)
        except note.NoteError as exc:
            raise ProtocolError(f"cosignature response: {exc}") from None
    return [line + "\n" for line in lines]


def format_size(size: int) -> bytes:
    if not 0 <= size <= MAX_SIZE:
        raise ValueError("size out of range")
    return f"{size}\n".encode()


def parse_size(body: bytes) -> int:
    """The 409 body (``text/x.tlog.size``): a decimal size and a newline."""
    text = _decode(body, "size response")
    if not text.endswith("\n") or "\n" in text[:-1]:
        raise ProtocolError("size response must be one line ending in a newline")
    return _parse_decimal(text[:-1], "size")


# --- the witness's decision ------------------------------------------------------------------


def check_request(
    req: AddCheckpoint,
    *,
    cosigned_size: int,
    cosigned_root: bytes | None,
    verifiers: Iterable[Verifier],
) -> Checkpoint:
    """Decide an add-checkpoint request against the witness's state for the origin.

    `verifiers` are the trusted keys of the log named by the checkpoint's origin (none: the
    origin is unknown); `cosigned_size`/`cosigned_root` the latest checkpoint the witness
    cosigned for it (0/None if none). Returns the checkpoint to cosign (then store it as
    the new state), or raises the WitnessError whose `status` the view answers with.
    Same size and same root is cosigned again; a size-0 request with old 0 needs no proof.
    """
    keys = list(verifiers)
    try:
        cp = req.parsed
    except note.NoteError as exc:
        raise ProtocolError(f"malformed checkpoint: {exc}") from None
    if not keys:
        raise UnknownOrigin("unknown log origin")
    try:
        note.open_note(req.checkpoint, keys)
    except note.NoteError as exc:
        raise UnknownKey(f"checkpoint not signed by a trusted key of the log: {exc}") from None
    if req.old_size > cp.size:
        raise ProtocolError(f"old size {req.old_size} is greater than the checkpoint size {cp.size}")
    if req.old_size != cosigned_size:
        raise StaleOld(cosigned_size)
    if cp.size == 0 and cp.root != merkle.EMPTY_ROOT:
        raise BadProof("a checkpoint of size 0 must have the empty tree's root hash", cp)
    if cosigned_size == 0:
        if req.proof:
            raise BadProof("the consistency proof from size 0 must be empty", cp)
        return cp
    if cosigned_root is None or len(cosigned_root) != merkle.HASH_SIZE:
        raise ValueError("the witness's state has a size but no 32-byte root")
    try:
        merkle.verify_consistency(cosigned_size, cp.size, cosigned_root, cp.root, req.proof)
    except merkle.ProofError as exc:
        raise BadProof(
            f"checkpoint is not consistent with the cosigned size {cosigned_size}: {exc}", cp
        ) from None
    return cp
