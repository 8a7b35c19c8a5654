"""Full verification of the ledger in the database, and the JSON export (streamed)."""

from __future__ import annotations

import json
import time

from ledger import chain
from ledger.models import Entry, EntryOpening, Head
from ledger.selectors import iter_batches, iter_checkpoints, iter_entries, public_keys, record, verifiers


def verify_database(
    *, chunk: int = 1000, check_nodes: bool = True, check_openings: bool = False, progress=None
) -> dict:
    """Re-verify every entry's signature (its own, or its batch's over the batch's Merkle
    root), the previous-hash chain, the stored interior hashes,
    every checkpoint's signatures and root against the entries (so successive checkpoints are
    consistent with each other), and the head row. With `check_openings`, also every opening
    of the private index against the commitments of its appended v2 entry. Returns a report
    dict; report["ok"]."""
    from ledger.services import origin

    started = time.perf_counter()
    report: dict = {"ok": False, "origin": origin(), "entries": 0, "checkpoints": 0, "failure": None}
    try:
        v = chain.verify_stream(
            _reporting(iter_entries(chunk, with_nodes=check_nodes), progress, chunk),
            iter_checkpoints(),
            verifiers(),
            origin(),
            iter_batches(),
        )
        head = Head.objects.filter(pk=1).first()
        head_size = head.size if head else 0
        if head_size != v.size:
            raise chain.VerificationFailure(
                min(head_size, v.size), "head", f"head row says {head_size} entries, {v.size} verified"
            )
        if head is not None and head_size and bytes(head.compact) != b"".join(v.tree.hashes):
            raise chain.VerificationFailure(
                head_size - 1, "head", "head row's compact range does not match the entries"
            )
        if check_openings:
            report["openings"] = _check_openings(chunk)
        report.update(ok=True, entries=v.size, checkpoints=v.checkpoints, batches=v.batches)
        if v.last_checkpoint:
            report["latest_checkpoint_size"] = v.last_checkpoint[0]
    except chain.VerificationFailure as f:
        report["failure"] = f.as_dict()
    report["seconds"] = round(time.perf_counter() - started, 3)
    return report


def _reporting(items, progress, every: int):
    """Pass `items` through, calling `progress(n)` every `every` items (the explorer's
    "verify now" shows how far it got); `progress` None: no calls."""
    n = 0
    for item in items:
        yield item
        n += 1
        if progress is not None and n % every == 0:
            progress(n)


def _check_openings(chunk: int) -> int:
    """Every private-index row whose entry is appended opens that entry's commitments."""
    n, last = 0, 0
    while True:
        rows = list(EntryOpening.objects.filter(id__gt=last).order_by("id")[:chunk])
        if not rows:
            return n
        entries = {e.event_id: e for e in Entry.objects.filter(event_id__in=[r.event_id for r in rows])}
        for row in rows:
            e = entries.get(row.event_id)
            if e is not None:
                chain.open_entry(record(e), json.loads(row.openings))
                n += 1
        last = rows[-1].id


def export_to(fh) -> dict:
    """Write the export JSON (format qmedchain-ledger-export/v1) to a text file handle."""
    from ledger.services import origin

    n = 0
    fh.write('{"format":"qmedchain-ledger-export/v1","origin":')
    fh.write(json.dumps(origin()))
    fh.write(',"keys":')
    fh.write(json.dumps(public_keys()))
    fh.write(',"entries":[')
    for e, _ in iter_entries(with_nodes=False):
        if n:
            fh.write(",\n")
        fh.write(json.dumps(chain.entry_to_json(e), ensure_ascii=False))
        n += 1
    fh.write('],"checkpoints":[')
    k = 0
    for note_text in iter_checkpoints():
        if k:
            fh.write(",\n")
        fh.write(json.dumps({"tree_size": chain.checkpoint_size(note_text), "note": note_text}))
        k += 1
    fh.write('],"batches":[')
    b = 0
    for batch in iter_batches():
        if b:
            fh.write(",\n")
        fh.write(json.dumps(chain.batch_to_json(batch)))
        b += 1
    fh.write("]}\n")
    return {"entries": n, "checkpoints": k, "batches": b}
