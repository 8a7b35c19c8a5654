"""Entry format and streaming log verification (no Django, no database).

An entry's leaf data is the canonical JSON (ledger.canonical) of

    {"v": 1, "index": i, "event_id": "<uuid>", "type": "<event type>",
     "time": "<UTC ISO 8601, microseconds, Z>", "prev": "<hex leaf hash of entry i-1,
     64 zeroes for entry 0>", "key": "<signing key id, 8 hex>", "payload": {...},
     "fingerprints": {...}}          # "fingerprints" only when present

Format v2 (events about patients, see `ledger.schema.V2_EVENT_TYPES`) has ``"v": 2`` and a
payload of salted commitments only, ``{"commitments": [hex, ...]}`` (`ledger.commitment`);
the v1 schema has no ``commitments`` field, so a payload that is a commitments object is v2
(`payload_version`). Both versions verify; a v2 payload with anything in clear does not.

its leaf hash is RFC 9162 ``SHA-256(0x00 || leaf data)``. Every entry is covered by a
Falcon-512 signature by the key `key`, in one of two signature forms:

- per entry (entries appended before batch signing; no ``batch`` field): Falcon-512 over
  ``b"qmedchain/ledger/entry/v1\\n" || leaf hash``;
- per batch (``"batch": first``, the index of the batch's first entry; ``signature`` empty):
  the entries appended in one transaction form a batch [first, first + size), and ONE
  Falcon-512 signature covers ``b"qmedchain/ledger/batch/v1\\n" || first (8 bytes, big
  endian) || size (8 bytes) || root``, where root is the RFC 9162 Merkle root of the batch's
  leaf hashes (`batch_message`). An entry is proved covered by its inclusion proof against
  that root (receipts carry the batch and the proof).

`LogVerifier` checks a log in one pass with O(log n) memory: feed entries in index order
(`entry`), and checkpoints (`checkpoint`) whenever the tree has reached their size.
Stored interior nodes can be cross-checked as they stream by (`expect_nodes`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any

from ledger import canonical, commitment, merkle, note, schema

ENTRY_CONTEXT = b"qmedchain/ledger/entry/v1\n"
BATCH_CONTEXT = b"qmedchain/ledger/batch/v1\n"
ZERO_HASH = bytes(32)
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


class VerificationFailure(Exception):
    """The first thing that failed: `index` (entry index, or None), `check`, `message`."""

    def __init__(self, index: int | None, check: str, message: str):
        super().__init__(message)
        self.index = index
        self.check = check
        self.message = message

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "check": self.check, "message": self.message}

    def __str__(self) -> str:
        where = f"index {self.index}: " if self.index is not None else ""
        return f"{where}{self.check}: {self.message}"


@dataclass(frozen=True)
class EntryRecord:
    index: int
    event_id: str
    event_type: str
    timestamp: str
    prev_hash: bytes
    payload: str  # canonical JSON text
    fingerprints: str | None
    leaf_hash: bytes
    key_id: str
    signature: bytes  # per-entry form; empty in the batch form
    batch: int | None = None  # first index of the signed batch covering it (batch form)

    @property
    def version(self) -> int:
        return payload_version(self.payload)


@dataclass(frozen=True)
class BatchRecord:
    """A signed batch: entries [first, first + size), Merkle root of their leaf hashes."""

    first: int
    size: int
    root_hash: bytes
    key_id: str
    signature: bytes

    def covers(self, index: int) -> bool:
        return self.first <= index < self.first + self.size


V2_PAYLOAD_PREFIX = '{"commitments":'


def payload_version(payload: str) -> int:
    """Entry format of a canonical payload text: 2 for a commitments object, else 1."""
    return 2 if payload.startswith(V2_PAYLOAD_PREFIX) else 1


def leaf_data(
    *,
    index: int,
    event_id: str,
    event_type: str,
    timestamp: str,
    prev_hash: bytes,
    key_id: str,
    payload: str,
    fingerprints: str | None,
) -> bytes:
    """Canonical JSON of the leaf object. `payload`/`fingerprints` are canonical JSON texts and
    are embedded verbatim (equal to re-encoding them; members in sorted key order)."""
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= canonical.MAX_SAFE_INT:
        raise ValueError("bad index")
    d = _json_str
    parts = ['{"event_id":', d(event_id)]
    if fingerprints is not None:
        parts += [',"fingerprints":', fingerprints]
    parts += [
        ',"index":',
        str(index),
        ',"key":',
        d(key_id),
        ',"payload":',
        payload,
        ',"prev":"',
        prev_hash.hex(),
        '","time":',
        d(timestamp),
        ',"type":',
        d(event_type),
        ',"v":2}' if payload_version(payload) == 2 else ',"v":1}',
    ]
    return "".join(parts).encode("utf-8")


_SAFE_STR = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_encode_str = json.JSONEncoder(ensure_ascii=False).encode


def _json_str(s: str) -> str:
    if not isinstance(s, str):
        raise ValueError("expected a string")
    if _SAFE_STR.fullmatch(s):  # printable ASCII without quote or backslash: no escapes
        return '"' + s + '"'
    return _encode_str(s)


def check_v2_payload(e: EntryRecord) -> None:
    """A v2 entry's payload holds commitments only (nothing in clear)."""
    if e.version != 2:
        return
    try:
        schema.clean_public_payload(e.event_type, json.loads(e.payload))
    except (ValueError, schema.PayloadError) as exc:
        raise VerificationFailure(e.index, "payload", f"v2 payload is not commitments only: {exc}") from None


def open_entry(e: EntryRecord, openings: object) -> dict[str, Any]:
    """Opened values {field: value} of a v2 entry; VerificationFailure("opening") when an
    opening does not match its commitment."""
    try:
        return commitment.check_openings(json.loads(e.payload).get("commitments"), openings)
    except (ValueError, AttributeError) as exc:
        raise VerificationFailure(e.index, "opening", str(exc)) from None


def entry_message(leaf: bytes) -> bytes:
    return ENTRY_CONTEXT + leaf


def batch_message(first: int, size: int, root: bytes) -> bytes:
    """What a batch signature signs: the batch's position, its size and its Merkle root."""
    if first < 0 or size < 1 or len(root) != 32:
        raise ValueError("bad batch")
    return BATCH_CONTEXT + first.to_bytes(8, "big") + size.to_bytes(8, "big") + root


def record_leaf_hash(e: EntryRecord) -> bytes:
    return merkle.leaf_hash(
        leaf_data(
            index=e.index,
            event_id=e.event_id,
            event_type=e.event_type,
            timestamp=e.timestamp,
            prev_hash=e.prev_hash,
            key_id=e.key_id,
            payload=e.payload,
            fingerprints=e.fingerprints,
        )
    )


# --- JSON forms used by exports, receipts and the API --------------------------------------


def entry_to_json(e: EntryRecord) -> dict[str, Any]:
    out = {
        "index": e.index,
        "event_id": e.event_id,
        "event_type": e.event_type,
        "timestamp": e.timestamp,
        "prev_hash": e.prev_hash.hex(),
        "payload": json.loads(e.payload),
        "fingerprints": json.loads(e.fingerprints) if e.fingerprints is not None else None,
        "leaf_hash": e.leaf_hash.hex(),
        "key_id": e.key_id,
        "signature": base64.b64encode(e.signature).decode(),
    }
    if e.batch is not None:  # the batch form; absent in the per-entry form (as before)
        out["batch"] = e.batch
    return out


def batch_to_json(b: BatchRecord) -> dict[str, Any]:
    return {
        "first": b.first,
        "size": b.size,
        "root_hash": b.root_hash.hex(),
        "key_id": b.key_id,
        "signature": base64.b64encode(b.signature).decode(),
    }


def batch_from_json(d: object) -> BatchRecord:
    """Parse a signed batch from its JSON form; raises ValueError naming the bad field."""
    if not isinstance(d, dict):
        raise ValueError("batch is not an object")
    try:
        first, size = d["first"], d["size"]
        for name, v in (("first", first), ("size", size)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"batch {name} must be a non-negative integer")
        if size < 1:
            raise ValueError("batch size must be positive")
        if not isinstance(d["key_id"], str) or not isinstance(d["signature"], str):
            raise ValueError("batch key_id/signature must be strings")
        return BatchRecord(
            first=first,
            size=size,
            root_hash=_hex32(d["root_hash"], "root_hash"),
            key_id=d["key_id"],
            signature=base64.b64decode(d["signature"], validate=True),
        )
    except KeyError as exc:
        raise ValueError(f"batch lacks field {exc.args[0]!r}") from None
    except binascii.Error as exc:
        raise ValueError(f"batch field is malformed: {exc}") from None


def _hex32(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a hex string")
    raw = bytes.fromhex(value)
    if len(raw) != 32:
        raise ValueError(f"{what} must be 32 bytes")
    return raw


def entry_from_json(d: object) -> EntryRecord:
    """Parse an entry from its JSON form; raises ValueError naming the bad field."""
    if not isinstance(d, dict):
        raise ValueError("entry is not an object")
    try:
        index = d["index"]
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ValueError("index must be a non-negative integer")
        fp = d.get("fingerprints")
        for k in ("event_id", "event_type", "timestamp", "key_id", "signature"):
            if not isinstance(d[k], str):
                raise ValueError(f"{k} must be a string")
        if not isinstance(d["payload"], dict) or (fp is not None and not isinstance(fp, dict)):
            raise ValueError("payload/fingerprints must be objects")
        batch = d.get("batch")
        if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 0):
            raise ValueError("batch must be a non-negative integer")
        return EntryRecord(
            index=index,
            event_id=d["event_id"],
            event_type=d["event_type"],
            timestamp=d["timestamp"],
            prev_hash=_hex32(d["prev_hash"], "prev_hash"),
            payload=canonical.dumps(d["payload"]),
            fingerprints=canonical.dumps(fp) if fp is not None else None,
            leaf_hash=_hex32(d["leaf_hash"], "leaf_hash"),
            key_id=d["key_id"],
            signature=base64.b64decode(d["signature"], validate=True),
            batch=batch,
        )
    except KeyError as exc:
        raise ValueError(f"entry lacks field {exc.args[0]!r}") from None
    except (binascii.Error, canonical.CanonicalError) as exc:
        raise ValueError(f"entry field is malformed: {exc}") from None


def key_to_json(
    name: str,
    algorithm: str,
    public_key: bytes,
    *,
    created_at: str | None = None,
    retired_at: str | None = None,
) -> dict[str, Any]:
    v = note.Verifier(name, algorithm, public_key)
    return {
        "key_id": v.key_id_hex,
        "name": name,
        "algorithm": algorithm,
        "public_key": base64.b64encode(public_key).decode(),
        "vkey": v.vkey,
        "created_at": created_at,
        "retired_at": retired_at,
    }


def key_from_json(d: object) -> note.Verifier:
    if not isinstance(d, dict):
        raise ValueError("key is not an object")
    try:
        v = note.Verifier(d["name"], d["algorithm"], base64.b64decode(d["public_key"], validate=True))
    except (KeyError, TypeError, binascii.Error):
        raise ValueError("key entry is malformed") from None
    if v.algorithm not in note.ALGORITHMS:
        raise ValueError(f"unknown key algorithm {v.algorithm!r}")
    if len(v.public_key) != note.PUBLIC_KEY_SIZES[v.algorithm]:
        raise ValueError(f"key {d.get('key_id')} has the wrong public key length")
    if d.get("key_id") != v.key_id_hex:
        raise ValueError(f"key id {d.get('key_id')!r} does not match its public key")
    return v


# --- verification ---------------------------------------------------------------------------


# (entry index, key, signed message, signature, what is signed: "" or "batch a..b ")
_SignatureCheck = tuple[int, note.Verifier, bytes, bytes, str]


def _first_bad_signature(batch: list[_SignatureCheck]) -> tuple[int, str] | None:
    for index, key, message, signature, what in batch:
        if not note._safe_verify(note.falcon_512, key.public_key, message, signature):
            return index, f"{what}Falcon-512 signature by key {key.key_id_hex} does not verify"
    return None


class LogVerifier:
    """One-pass verifier; raises VerificationFailure at the first problem.

    With an `executor`, Falcon signature checks run there in batches (the C code releases the
    GIL, so they overlap with hashing on another core); `settle()` collects them, and a failure
    is always reported at the lowest bad index, as without an executor.
    """

    SIG_BATCH = 128
    MAX_OUTSTANDING = 3  # batches in flight: bounded memory, enough to keep two threads busy

    def __init__(
        self,
        keys: Iterable[note.Verifier],
        origin: str,
        *,
        executor: Executor | None = None,
        batches: Iterable[BatchRecord] = (),
    ):
        self.origin = origin
        self.keys = list(keys)
        self.entry_keys = {k.key_id_hex: k for k in self.keys if k.algorithm == note.ALG_FALCON}
        self.note_keys = [k for k in self.keys if k.name == origin]
        self.tree = merkle.CompactRange(on_node=self._on_node)
        self.prev = ZERO_HASH
        self.checkpoints = 0
        self.last_checkpoint: tuple[int, bytes] | None = None
        self._expected_nodes: list[tuple[int, int, bytes]] | None = None
        self._executor = executor
        self._batch: list[_SignatureCheck] = []
        self._inflight: list[Future[tuple[int, str] | None]] = []  # oldest first
        self._batches = iter(batches)  # signed batches in index order
        self._open: BatchRecord | None = None  # the batch being read, and its leaves so far
        self._open_leaves: list[bytes] = []
        self.batches = 0

    def _on_node(self, level: int, idx: int, h: bytes) -> None:
        if self._expected_nodes is not None:
            self._expected_nodes.append((level, idx, h))

    @property
    def size(self) -> int:
        return self.tree.size

    def entry(self, e: EntryRecord, *, stored_nodes: list[tuple[int, int, bytes]] | None = None) -> None:
        i = self.tree.size
        if e.index != i:
            if e.index > i:
                raise VerificationFailure(
                    i, "missing", f"entry {i} is missing (next stored entry is {e.index})"
                )
            raise VerificationFailure(e.index, "duplicate", f"entry {e.index} appears twice or out of order")
        if not UUID_RE.fullmatch(e.event_id):
            raise VerificationFailure(i, "event_id", "event id is not a UUID")
        if not TIME_RE.match(e.timestamp):
            raise VerificationFailure(i, "timestamp", "timestamp is not UTC ISO 8601 with microseconds")
        try:
            leaf = record_leaf_hash(e)
        except (ValueError, canonical.CanonicalError) as exc:
            raise VerificationFailure(i, "leaf_hash", f"cannot rebuild leaf data: {exc}") from None
        if leaf != e.leaf_hash:
            raise VerificationFailure(i, "leaf_hash", "stored leaf hash does not match the entry's contents")
        check_v2_payload(e)
        if e.prev_hash != self.prev:
            raise VerificationFailure(i, "prev_hash", f"previous-hash link does not match entry {i - 1}")
        key = self.entry_keys.get(e.key_id)
        if key is None:
            raise VerificationFailure(i, "key", f"entry is signed with unpublished key {e.key_id!r}")
        if e.batch is None:
            if self._open is not None:
                raise VerificationFailure(
                    i, "batch", f"the signed batch from entry {self._open.first} ends early, at entry {i}"
                )
            self._signature(i, key, entry_message(leaf), e.signature, "")
        else:
            if e.signature:
                raise VerificationFailure(
                    i, "signature", "an entry of the batch form carries a signature of its own"
                )
            self._batch_entry(e, key, leaf)
        if stored_nodes is not None:
            self._expected_nodes = []
            self.tree.append(leaf)
            got, self._expected_nodes = self._expected_nodes, None
            want = sorted(got)
            have = sorted((lv, ix, bytes(h)) for lv, ix, h in stored_nodes)
            if want != have:
                raise VerificationFailure(
                    i, "tree_node", "stored interior hashes completed by this entry are wrong"
                )
        else:
            self.tree.append(leaf)
        self.prev = leaf

    def _signature(self, i: int, key: note.Verifier, message: bytes, signature: bytes, what: str) -> None:
        if self._executor is None:
            bad = _first_bad_signature([(i, key, message, signature, what)])
            if bad is not None:
                raise VerificationFailure(bad[0], "signature", bad[1])
        else:
            self._batch.append((i, key, message, signature, what))
            if len(self._batch) >= self.SIG_BATCH:
                self._submit()

    def _batch_entry(self, e: EntryRecord, key: note.Verifier, leaf: bytes) -> None:
        """An entry of the batch form: gather the batch's leaves; at its last entry, check the
        batch's Merkle root and its one Falcon-512 signature."""
        i = e.index
        b = self._open
        if b is None:
            if e.batch != i:
                raise VerificationFailure(
                    i, "batch", f"entry says its signed batch starts at {e.batch}, but a batch starts here"
                )
            b = next(self._batches, None)
            if b is not None and b.first < i:  # a batch with no entries of its own
                raise VerificationFailure(b.first, "batch", f"signed batch {b.first} covers no entries")
            if b is None or b.first != i:
                raise VerificationFailure(i, "batch", f"no signed batch starts at entry {i}")
            self._open, self._open_leaves = b, []
        if e.batch != b.first:
            raise VerificationFailure(
                i, "batch", f"entry says its signed batch starts at {e.batch}, not at {b.first}"
            )
        if e.key_id != b.key_id:
            raise VerificationFailure(i, "key", f"entry names key {e.key_id!r}, its batch {b.key_id!r}")
        self._open_leaves.append(leaf)
        if len(self._open_leaves) < b.size:
            return
        last = b.first + b.size - 1
        if merkle.root(self._open_leaves) != b.root_hash:
            raise VerificationFailure(
                last,
                "batch_root",
                f"the signed root of batch {b.first}..{last} does not match its entries",
            )
        self._open, self._open_leaves = None, []
        self.batches += 1
        self._signature(
            b.first,
            key,
            batch_message(b.first, b.size, b.root_hash),
            b.signature,
            f"batch {b.first}..{last}: ",
        )

    def finish(self) -> None:
        """After the last entry: no batch may be left incomplete or unused."""
        if self._open is not None:
            b = self._open
            raise VerificationFailure(
                self.tree.size - 1 if self.tree.size else None,
                "batch",
                f"signed batch {b.first} has {b.size} entries, only {len(self._open_leaves)} exist",
            )
        extra = next(self._batches, None)
        if extra is not None:
            raise VerificationFailure(extra.first, "batch", f"signed batch {extra.first} covers no entries")

    def _submit(self) -> None:
        if self._batch and self._executor is not None:  # (no batch without an executor)
            self._inflight.append(self._executor.submit(_first_bad_signature, self._batch))
            self._batch = []
        while len(self._inflight) > self.MAX_OUTSTANDING:
            self._check(self._inflight.pop(0))

    @staticmethod
    def _check(future: Future[tuple[int, str] | None]) -> None:
        bad = future.result()
        if bad is not None:
            raise VerificationFailure(bad[0], "signature", bad[1])

    def settle(self) -> None:
        """Wait for every outstanding signature check; raise the first failure."""
        if self._executor is None:
            return
        self._submit()
        while self._inflight:
            self._check(self._inflight.pop(0))

    def checkpoint(self, signed_note: str, *, label: str = "") -> None:
        """Check a checkpoint whose tree size must equal the number of entries fed so far."""
        where = label or f"checkpoint at size {self.tree.size}"
        last = self.tree.size - 1 if self.tree.size else None
        try:
            text, _ = note.open_note(signed_note, self.note_keys, require={note.ALG_FALCON, note.ALG_MLDSA})
            cp = note.parse_checkpoint(text)
        except note.NoteError as exc:
            raise VerificationFailure(last, "checkpoint_signature", f"{where}: {exc}") from None
        if cp.origin != self.origin:
            raise VerificationFailure(
                last, "checkpoint_origin", f"{where}: origin {cp.origin!r} is not {self.origin!r}"
            )
        if self.last_checkpoint and cp.size < self.last_checkpoint[0]:
            raise VerificationFailure(last, "checkpoint_order", f"{where}: tree size went backwards")
        if cp.size != self.tree.size:
            raise VerificationFailure(last, "checkpoint_size", f"{where}: note says size {cp.size}")
        if cp.root != self.tree.root():
            prev = self.last_checkpoint
            span = f"entries {prev[0]}..{cp.size - 1}" if prev else f"entries 0..{cp.size - 1}"
            raise VerificationFailure(
                last,
                "checkpoint_root",
                f"{where}: signed root does not match the root recomputed from the entries "
                f"(a change in {span}, or the checkpoint is inconsistent with its predecessor)",
            )
        self.last_checkpoint = (cp.size, cp.root)
        self.checkpoints += 1


def checkpoint_size(signed_note: str) -> int:
    """Tree size from a checkpoint note without verifying it (to order/merge streams)."""
    try:
        text, _ = note.split_note(signed_note)
        return note.parse_checkpoint(text).size
    except note.NoteError:
        return -1


def verify_stream(
    entries: Iterable[tuple[EntryRecord, list[tuple[int, int, bytes]] | None]],
    checkpoints: Iterable[str],
    keys: Iterable[note.Verifier],
    origin: str,
    batches: Iterable[BatchRecord] = (),
) -> LogVerifier:
    """Verify a whole log: entries (with optional stored nodes) in index order, checkpoint
    notes in creation order, signed batches in index order. Raises VerificationFailure;
    returns the verifier on success."""
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(2, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="falcon-verify") as executor:
        v = LogVerifier(keys, origin, executor=executor, batches=batches)
        try:
            _verify_all(v, entries, checkpoints)
            v.finish()
        except VerificationFailure as failure:
            try:
                v.settle()  # a bad signature at a lower index is the first failure
            except VerificationFailure as earlier:
                if earlier.index is not None and (failure.index is None or earlier.index <= failure.index):
                    raise earlier from None
            raise
        v.settle()
    return v


def _verify_all(
    v: LogVerifier,
    entries: Iterable[tuple[EntryRecord, list[tuple[int, int, bytes]] | None]],
    checkpoints: Iterable[str],
) -> None:
    cps = iter(checkpoints)
    pending = next(cps, None)
    size = checkpoint_size(pending) if pending is not None else 0
    n = 0

    def drain() -> None:
        nonlocal pending, n, size
        while pending is not None and size <= v.size:
            n += 1
            v.checkpoint(pending, label=f"checkpoint #{n} (size {size})")
            pending = next(cps, None)
            size = checkpoint_size(pending) if pending is not None else 0

    drain()
    for e, nodes in entries:
        v.entry(e, stored_nodes=nodes)
        drain()
    if pending is not None:
        raise VerificationFailure(
            v.size if v.size else 0,
            "missing",
            f"checkpoint #{n + 1} covers {size} entries but only {v.size} exist (entry {v.size} is missing)",
        )
