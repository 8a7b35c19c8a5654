"""Reads from the ledger: entries, proofs from stored subtrees (O(log n) rows), receipts."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator

from django.db import connection

from ledger import chain, merkle, note
from ledger.models import Batch, Checkpoint, Entry, EntryOpening, Head, SigningKey, TreeNode


def _uuid(event_id) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(event_id))
    except ValueError:
        return None


def entry_for_event(event_id) -> Entry | None:
    eid = _uuid(event_id)
    return Entry.objects.filter(event_id=eid).first() if eid else None


def tree_size() -> int:
    return Head.objects.filter(pk=1).values_list("size", flat=True).first() or 0


def latest_checkpoint() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-id").first()


def record(e: Entry) -> chain.EntryRecord:
    return chain.EntryRecord(
        index=e.index,
        event_id=str(e.event_id),
        event_type=e.event_type,
        timestamp=e.timestamp,
        prev_hash=bytes(e.prev_hash),
        payload=e.payload,
        fingerprints=e.fingerprints,
        leaf_hash=bytes(e.leaf_hash),
        key_id=e.key_id,
        signature=bytes(e.signature),
        batch=e.batch,
    )


def entry_json(e: Entry) -> dict:
    return chain.entry_to_json(record(e))


def batch_record(b: Batch) -> chain.BatchRecord:
    return chain.BatchRecord(
        first=b.first,
        size=b.size,
        root_hash=bytes(b.root_hash),
        key_id=b.key_id,
        signature=bytes(b.signature),
    )


def batch_proof(e: Entry) -> dict | None:
    """The signed batch covering a batch-form entry, with the entry's inclusion proof against
    the batch root (`inclusion_proof`, base64, index `e.index - first` in a tree of the batch's
    size); None for a per-entry signed entry. Two queries (the batch, its leaf hashes)."""
    if e.batch is None:
        return None
    b = Batch.objects.filter(first=e.batch).first()
    if b is None:
        return None
    leaves = [
        bytes(h)
        for h in Entry.objects.filter(index__gte=b.first, index__lt=b.first + b.size)
        .order_by("index")
        .values_list("leaf_hash", flat=True)
    ]
    if len(leaves) != b.size:
        return None
    out = chain.batch_to_json(batch_record(b))
    out["inclusion_proof"] = [
        base64.b64encode(h).decode() for h in merkle.inclusion_proof(leaves, e.index - b.first)
    ]
    return out


def fetch_nodes(ids) -> dict[tuple[int, int], bytes]:
    ids = set(ids)
    if not ids:
        return {}
    ids = sorted(ids)
    # only the table name (from the model) and "(%s, %s)" placeholders are formatted in (bandit B608)
    sql = (
        f"SELECT level, idx, hash FROM {TreeNode._meta.db_table} WHERE (level, idx) IN "  # nosec B608
        f"({', '.join(['(%s, %s)'] * len(ids))})"
    )
    with connection.cursor() as c:
        c.execute(sql, [x for pair in ids for x in pair])
        return {(lv, ix): bytes(h) for lv, ix, h in c.fetchall()}


def _proof(plan) -> list[bytes]:
    return merkle.assemble(plan, fetch_nodes(merkle.unique_nodes(plan)))


def root_at(size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    return _proof([merkle.root_nodes(size)])[0]


def inclusion_proof(index: int, size: int, *, check_size: bool = True) -> list[bytes]:
    """Raises merkle.ProofError when index/size are out of range or nodes are missing.
    One query for the nodes (plus one for the tree size unless check_size=False)."""
    if check_size and size > tree_size():
        raise merkle.ProofError(f"tree size {size} is beyond the log size")
    return _proof(merkle.inclusion_nodes(index, size))


def consistency_proof(first: int, second: int, *, check_size: bool = True) -> list[bytes]:
    if check_size and second > tree_size():
        raise merkle.ProofError(f"tree size {second} is beyond the log size")
    return _proof(merkle.consistency_nodes(first, second))


def public_keys() -> list[dict]:
    return [
        chain.key_to_json(
            k.name,
            k.algorithm,
            bytes(k.public_key),
            created_at=k.created_at.isoformat() if k.created_at else None,
            retired_at=k.retired_at.isoformat() if k.retired_at else None,
        )
        for k in SigningKey.objects.order_by("id")
    ]


def verifiers() -> list[note.Verifier]:
    return [
        note.Verifier(k.name, k.algorithm, bytes(k.public_key)) for k in SigningKey.objects.order_by("id")
    ]


def opening_for_event(event_id) -> EntryOpening | None:
    """The private index row of a v2 event (its subject and openings). Not public: callers
    decide who may see it."""
    eid = _uuid(event_id)
    return EntryOpening.objects.filter(event_id=eid).first() if eid else None


def openings_for_event(event_id) -> dict | None:
    """{field: {"salt", "value"}} behind a v2 event's commitments, or None."""
    row = opening_for_event(event_id)
    return json.loads(row.openings) if row is not None else None


def opened_facts(event_id) -> dict | None:
    """{field: value} of a v2 event (the facts recorded behind its commitments), or None."""
    openings = openings_for_event(event_id)
    return {k: o["value"] for k, o in openings.items()} if openings is not None else None


def events_of_subject(subject: str):
    """The private index rows of one patient (by pseudonym), newest first."""
    return EntryOpening.objects.filter(subject=subject).order_by("-id")


# the newest witnessed checkpoint larger than a size, as (tree size, signed note with its
# cosignatures): the hospital network provides it (`federation.quorum.newest_witnessed`,
# handed over when that app is ready, since the ledger imports nothing above it)
_witnessed_providers: list[Callable[[int], tuple[int, str] | None]] = []


def use_witnessed_provider(provider: Callable[[int], tuple[int, str] | None]) -> None:
    _witnessed_providers[:] = [provider]


def witnessed_for(index: int, tree_size: int) -> dict | None:
    """The receipt's `witnessed` part for the entry at `index` under a checkpoint of
    `tree_size`: the newest witnessed checkpoint that covers the entry, the entry's inclusion
    proof in it, and the consistency proof between the two tree sizes (smaller to larger;
    empty when equal). None while no witnessed checkpoint covers the entry. One query for
    the nodes of both proofs."""
    found = _witnessed_providers[0](index) if _witnessed_providers else None
    if found is None:
        return None
    size, signed = found
    first, second = sorted((size, tree_size))
    inclusion = merkle.inclusion_nodes(index, size)
    consistency = merkle.consistency_nodes(first, second)
    nodes = fetch_nodes(merkle.unique_nodes(inclusion) | merkle.unique_nodes(consistency))
    b64 = base64.b64encode
    return {
        "tree_size": size,
        "checkpoint": signed,
        "inclusion_proof": [b64(h).decode() for h in merkle.assemble(inclusion, nodes)],
        "consistency_proof": [b64(h).decode() for h in merkle.assemble(consistency, nodes)],
    }


def receipt_for_event(event_id, *, with_openings: bool = False) -> dict | None:
    """Self-contained receipt (entry, signed checkpoint, inclusion proof, public keys, and
    the newest witnessed checkpoint covering the entry, or null), or None until a checkpoint
    covers the entry. `with_openings` adds the openings of a v2
    entry's commitments: only for a reader the caller has authorised."""
    e = entry_for_event(event_id)
    if e is None:
        return None
    cp = Checkpoint.objects.filter(tree_size__gt=e.index).order_by("-id").first()
    if cp is None:
        return None
    proof = inclusion_proof(e.index, cp.tree_size)
    from ledger.services import origin

    receipt = {
        "format": "qmedchain-ledger-receipt/v1",
        "origin": origin(),
        "entry": entry_json(e),
        "tree_size": cp.tree_size,
        "checkpoint": cp.note,
        "inclusion_proof": [base64.b64encode(h).decode() for h in proof],
        "keys": public_keys(),
        "witnessed": witnessed_for(e.index, cp.tree_size),
    }
    if e.batch is not None:  # the batch form: the signature that covers the entry, and the proof
        receipt["batch"] = batch_proof(e)
    if with_openings:
        openings = openings_for_event(event_id)
        if openings is not None:
            receipt["openings"] = openings
    return receipt


# --- streaming for verify / export ---------------------------------------------------------------


def iter_entries(chunk: int = 1000, *, with_nodes: bool = True) -> Iterator[tuple[Entry, list | None]]:
    """Entries in index order with the tree nodes each one completed; bounded memory."""
    start = 0
    fields = (
        "index",
        "event_id",
        "event_type",
        "timestamp",
        "prev_hash",
        "payload",
        "fingerprints",
        "leaf_hash",
        "key_id",
        "signature",
        "batch",
    )
    while True:
        rows = list(Entry.objects.filter(index__gte=start).order_by("index").values_list(*fields)[:chunk])
        if not rows:
            return
        lo, hi = rows[0][0], rows[-1][0]
        by_leaf: dict[int, list] = {}
        if with_nodes:
            for leaf, lv, ix, h in TreeNode.objects.filter(leaf__gte=lo, leaf__lte=hi).values_list(
                "leaf", "level", "idx", "hash"
            ):
                by_leaf.setdefault(leaf, []).append((lv, ix, bytes(h)))
        for r in rows:
            rec = chain.EntryRecord(
                index=r[0],
                event_id=str(r[1]),
                event_type=r[2],
                timestamp=r[3],
                prev_hash=bytes(r[4]),
                payload=r[5],
                fingerprints=r[6],
                leaf_hash=bytes(r[7]),
                key_id=r[8],
                signature=bytes(r[9]),
                batch=r[10],
            )
            yield rec, (by_leaf.get(r[0], []) if with_nodes else None)
        start = hi + 1


def iter_batches(chunk: int = 1000) -> Iterator[chain.BatchRecord]:
    """Signed batches in index order; bounded memory."""
    last = -1
    while True:
        rows = list(Batch.objects.filter(first__gt=last).order_by("first")[:chunk])
        if not rows:
            return
        for b in rows:
            yield batch_record(b)
        last = rows[-1].first


def iter_checkpoints(chunk: int = 200) -> Iterator[str]:
    last = 0
    while True:
        rows = list(Checkpoint.objects.filter(id__gt=last).order_by("id").values_list("id", "note")[:chunk])
        if not rows:
            return
        for _pk, n in rows:
            yield n
        last = rows[-1][0]
