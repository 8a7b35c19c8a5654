"""c2sp.org/tlog-tiles resources of this node's log, read from the ledger's tables: one query
per tile. A tile exists once every hash (or entry) it holds has been appended; anything
beyond the tree is None (a 404)."""

from __future__ import annotations

from ledger import chain, tiles
from ledger.models import Checkpoint, Entry, TreeNode

MAX_INDEX = 2**63 - 1  # the columns are signed 64-bit: a tile beyond them is beyond any tree


def checkpoint_note() -> str | None:
    """The newest signed checkpoint (the log's signatures only; the witnessed view with
    cosignatures is in the receipts)."""
    return Checkpoint.objects.order_by("-id").values_list("note", flat=True).first()


def hash_tile(level: int, index: int, width: int | None) -> bytes | None:
    """The concatenated hashes of tile (level, index), full (`width` None) or partial."""
    if (index + 1) * tiles.TILE_WIDTH > MAX_INDEX:
        return None
    ids = tiles.tile_node_ids(level, index, width or tiles.TILE_WIDTH)
    height, first = ids[0]
    rows = list(
        TreeNode.objects.filter(level=height, idx__gte=first, idx__lt=first + len(ids))
        .order_by("idx")
        .values_list("hash", flat=True)
    )
    if len(rows) != len(ids):
        return None
    return tiles.format_tile([bytes(h) for h in rows])


def entry_bundle(index: int, width: int | None) -> bytes | None:
    """Entry bundle `index`: each entry's leaf data (`chain.leaf_data`, whose SHA-256 with the
    0x00 prefix is its leaf hash). Entries about patients (format v2) hold commitments only."""
    start, end = tiles.entry_bundle_range(index, width)
    if end > MAX_INDEX:
        return None
    rows = list(
        Entry.objects.filter(index__gte=start, index__lt=end)
        .order_by("index")
        .values_list(
            "index", "event_id", "event_type", "timestamp", "prev_hash", "key_id", "payload", "fingerprints"
        )
    )
    if len(rows) != end - start:
        return None
    return tiles.format_entry_bundle(
        [
            chain.leaf_data(
                index=i,
                event_id=str(eid),
                event_type=etype,
                timestamp=ts,
                prev_hash=bytes(prev),
                key_id=kid,
                payload=payload,
                fingerprints=fps,
            )
            for i, eid, etype, ts, prev, kid, payload, fps in rows
        ]
    )
