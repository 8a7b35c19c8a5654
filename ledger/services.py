"""Writes to the ledger.

Other apps call exactly one function::

    from ledger.services import record_event, LedgerPayloadError
    event_id = record_event(event_type="scan.registered", payload={"scan_id": ..., "patient": pid, ...})

`record_event` validates the payload (see `ledger.schema` for allowed fields and shapes),
inserts a `PendingEvent` inside the caller's transaction and, on commit, enqueues the Celery
task that signs and appends. Nothing is signed while a request waits. Events about patients
are recorded in format v2: the public entry holds a salted commitment per fact
(`ledger.commitment`), and the openings go to the private index (`EntryOpening`, keyed by
the patient's pseudonym) in the same statement batch.

`append_pending` (the worker's function) assigns indexes under the locked head row, signs
the batch with ONE Falcon-512 signature over the RFC 9162 root of its leaves (`Batch`; each
entry is covered through its inclusion proof against that root; `LEDGER_BATCH_SIGNING=False`
signs each entry instead, the format of older entries), stores the entries and the interior
hashes they complete, and deletes the pending rows — all in one transaction, so a crash
leaves either everything or nothing. A checkpoint is signed every `LEDGER_CHECKPOINT_EVERY` entries, and by the periodic
task when the newest checkpoint is older than `LEDGER_CHECKPOINT_SECONDS`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from core.rows import insert, insert_at_once
from ledger import canonical, chain, commitment, merkle, note, wakeups
from ledger.models import Batch, Checkpoint, Entry, EntryOpening, Head, PendingEvent, SigningKey, TreeNode
from ledger.schema import (
    EVENT_TYPES,
    PayloadError,
    clean_fingerprints,
    clean_payload,
    clean_public_payload,
    event_version,
)

log = logging.getLogger(__name__)

__all__ = [
    "EVENT_TYPES",
    "LedgerPayloadError",
    "record_event",
    "append_pending",
    "create_checkpoint",
    "ensure_keys",
    "rotate_keys",
]


class LedgerPayloadError(PayloadError):
    """Unknown event type, or a payload field that is not allowed / not of its shape."""


def origin() -> str:
    return getattr(settings, "LEDGER_ORIGIN", "qmedchain.local/ledger")


def checkpoint_every() -> int:
    return int(getattr(settings, "LEDGER_CHECKPOINT_EVERY", 64))


def batch_signing() -> bool:
    """One Falcon-512 signature per append batch (True), or one per entry (the old form)."""
    return bool(getattr(settings, "LEDGER_BATCH_SIGNING", True))


def checkpoint_seconds() -> int:
    return int(getattr(settings, "LEDGER_CHECKPOINT_SECONDS", 60))


# --- recording (request path: no signing) -----------------------------------------------------


def record_event(
    *,
    event_type: str,
    payload: dict,
    fingerprints: dict | None = None,
    event_id: uuid.UUID | None = None,
    enqueue: bool = True,
    known_new: bool = False,
    with_rows: Sequence[models.Model] = (),
) -> uuid.UUID:
    """Record an event for the ledger inside the caller's transaction; returns its event id.

    Idempotent by `event_id`: passing an id that is already pending or appended records
    nothing new and returns the same id. Raises LedgerPayloadError on a bad payload.
    On commit the append task is scheduled (`schedule_append(inline=False)`: one delayed
    task signs the events of a burst of requests in one batch), unless `enqueue=False`: a
    caller that is itself a worker task then calls `schedule_append()` after its commit.
    `known_new=True` skips the duplicate check (one query) for a caller that has proved,
    under its own lock, that this event id was never recorded. `with_rows` are the caller's
    rows to write with the event, all or none (the access history's row of an access), in
    one statement on PostgreSQL (`core.rows.insert_at_once`).
    """
    try:
        clean = clean_payload(event_type, payload)
        fps = clean_fingerprints(fingerprints)
        opening = None
        if event_version(event_type) == 2:
            facts = {**clean, **{f"fp:{k}": v for k, v in (fps or {}).items()}}
            commitments, openings = commitment.commit_all(facts)
            clean, fps = clean_public_payload(event_type, {"commitments": commitments}), None
            opening = EntryOpening(
                event_type=event_type, subject=facts.get("patient", ""), openings=canonical.dumps(openings)
            )
    except PayloadError as exc:
        raise LedgerPayloadError(str(exc)) from None
    eid = uuid.UUID(str(event_id)) if event_id is not None else uuid.uuid4()
    rows: list[models.Model] = [
        PendingEvent(
            event_id=eid,
            event_type=event_type,
            payload=canonical.dumps(clean),
            fingerprints=canonical.dumps(fps) if fps is not None else None,
        )
    ]
    if opening is not None:
        opening.event_id = eid
        rows.append(opening)
    rows += with_rows
    # no signal listens to these tables (core.rows); no savepoint: inside a caller's
    # transaction an error here aborts that transaction anyway
    if event_id is not None and not known_new:
        with transaction.atomic(savepoint=False):
            if _recorded(eid):
                return eid
            insert(rows)
    else:
        insert_at_once(rows)
    if enqueue:
        transaction.on_commit(_schedule_from_request)
    return eid


def _recorded(event_id: uuid.UUID) -> bool:
    """Pending or appended already (one query)."""
    return (
        PendingEvent.objects.filter(event_id=event_id)
        .values("event_id")
        .union(Entry.objects.filter(event_id=event_id).values("event_id"))
        .exists()
    )


def append_soon() -> int:
    """Append what is pending now, in the calling worker (never call it from a request);
    if that fails, leave it to the append task. Returns how many entries were appended."""
    try:
        return append_all()
    except Exception:  # noqa: BLE001 - the task (or the periodic checkpoint task) appends later
        log.warning("ledger: inline append failed; enqueueing the append task", exc_info=True)
        enqueue_append()
        return 0


def append_delay() -> float:
    return float(getattr(settings, "LEDGER_APPEND_DELAY", 0.25))


def append_batch() -> int:
    return int(getattr(settings, "LEDGER_APPEND_BATCH", 16))


_append_due = [0.0]  # when the append task this process scheduled last will run (time.time())
_since_append = [0]  # events this process recorded since it last appended


def schedule_append(*, inline: bool = True) -> None:
    """Sign the entry of an event just committed, in a batch with others.

    Normally the append task is scheduled `append_delay()` seconds ahead, so the events
    recorded meanwhile (by this and other workers) are signed in ONE batch: one head lock,
    one transaction, one checkpoint check, instead of one of each per event. Nothing is
    scheduled if this process already has a task due at least a quarter of the delay from
    now: that task has not started, so it will see the committed event. While the queue
    is busy that task may wait behind scans, so every `append_batch()`-th event this
    process records is appended here and now, which bounds how long an entry waits
    (`inline=False` on a request path: a web process never signs). The periodic checkpoint
    task appends anything a failed enqueue left behind."""
    if inline:
        if wakeups.running():  # a worker process's appender thread signs meanwhile
            wakeups.notify()
            return
        _since_append[0] += 1
        if _since_append[0] >= append_batch():
            append_soon()
            return
    delay = append_delay()
    now = time.time()
    if _append_due[0] - now >= delay / 4:
        return
    try:
        _append_task().apply_async(countdown=delay, retry=False)
        _append_due[0] = now + delay
    except Exception:  # noqa: BLE001 - the periodic task picks the pending rows up later
        log.warning(
            "ledger: could not schedule the append task; the periodic task will append", exc_info=True
        )


# the Celery task that appends: `ledger.tasks` imports this module, so it hands its task over
# (`use_append_task`, when the app is ready) instead of being imported from here
_append_tasks: list = []


def use_append_task(task) -> None:
    _append_tasks[:] = [task]


def _append_task():
    if not _append_tasks:
        raise RuntimeError("ledger.tasks is not loaded (the ledger app is not ready)")
    return _append_tasks[0]


def _schedule_from_request() -> None:
    schedule_append(inline=False)


def enqueue_append() -> None:
    try:
        _append_task().apply_async(retry=False)
    except Exception:  # noqa: BLE001 - the periodic task picks the pending row up later
        log.warning("ledger: could not enqueue the append task; the periodic task will append", exc_info=True)


# --- keys --------------------------------------------------------------------------------------

_signer_cache: dict[str, note.Signer] = {}


def _context(algorithm: str, key_id: str) -> str:
    return f"ledger.{algorithm}:{key_id}"


def _new_key(algorithm: str) -> SigningKey:
    from core.keyvault import seal

    for _ in range(5):
        pk, sk = note.generate(algorithm)
        kid = note.key_id_hex(origin(), algorithm, pk)
        if not SigningKey.objects.filter(key_id=kid).exists():
            return SigningKey.objects.create(
                key_id=kid,
                name=origin(),
                algorithm=algorithm,
                public_key=pk,
                sealed_private_key=seal(sk, context=_context(algorithm, kid)),
            )
    raise RuntimeError("could not find an unused key id")


def signer_for(key: SigningKey) -> note.Signer:
    s = _signer_cache.get(key.key_id)
    if s is None:
        from core.keyvault import unseal

        sk = unseal(bytes(key.sealed_private_key), context=_context(key.algorithm, key.key_id))
        s = note.Signer(key.name, key.algorithm, bytes(key.public_key), sk)
        _signer_cache[key.key_id] = s
    return s


def active_key(algorithm: str) -> SigningKey | None:
    return (
        SigningKey.objects.filter(algorithm=algorithm, retired_at__isnull=True, name=origin())
        .order_by("-id")
        .first()
    )


# the log's signature types: Ed25519 (C2SP requires one on a checkpoint of a log that talks to
# the public witness network), Falcon-512 (also signs entries) and ML-DSA-44
LOG_ALGORITHMS = (note.ALG_ED25519, note.ALG_FALCON, note.ALG_MLDSA)


def ensure_keys() -> dict[str, SigningKey]:
    """Active Ed25519, Falcon-512 and ML-DSA-44 keys (one query), generated on first use.
    Call under the head lock."""
    algorithms = LOG_ALGORITHMS
    out: dict[str, SigningKey] = {}
    for key in SigningKey.objects.filter(
        algorithm__in=algorithms, retired_at__isnull=True, name=origin()
    ).order_by("-id"):
        out.setdefault(key.algorithm, key)  # the newest active key of each algorithm
    for alg in algorithms:
        if alg not in out:
            out[alg] = _new_key(alg)
    return out


def rotate_keys(*, algorithms=LOG_ALGORITHMS) -> list[uuid.UUID]:
    """Retire the active keys, make new ones and record a `key.rotated` event for each."""
    events = []
    with transaction.atomic():
        lock_head()
        for alg in algorithms:
            old = active_key(alg)
            if old is not None:
                SigningKey.objects.filter(pk=old.pk).update(retired_at=timezone.now())
            new = _new_key(alg)
            payload = {
                "new_key_id": new.key_id,
                "algorithm": alg,
                "public_key_sha256": hashlib.sha256(bytes(new.public_key)).hexdigest(),
                "at": timezone.now(),
            }
            if old is not None:
                payload["old_key_id"] = old.key_id
            events.append(record_event(event_type="key.rotated", payload=payload))
    return events


# --- appending (worker) ----------------------------------------------------------------------


def lock_head() -> Head:
    """Take the appenders' lock and read the head row. Must run inside a transaction.

    PostgreSQL: ``SELECT ... FOR UPDATE`` on the single head row (one query). SQLite has
    no row locks: an UPDATE on the row takes the database write lock, then it is read."""
    for _ in range(2):
        if connection.features.has_select_for_update:
            head = Head.objects.select_for_update().filter(pk=1).first()
            if head is not None:
                return head
        elif Head.objects.filter(pk=1).update(lock_count=F("lock_count") + 1):
            return Head.objects.get(pk=1)
        try:  # first use
            with transaction.atomic():
                Head.objects.create(pk=1)
        except IntegrityError:
            pass
    raise RuntimeError("the ledger head row could not be created")


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def append_pending(*, max_batch: int = 256) -> int:
    """Sign and append up to `max_batch` pending events in one transaction; returns how many."""
    with transaction.atomic():
        head = lock_head()
        pending = list(PendingEvent.objects.order_by("id")[:max_batch])
        if not pending:
            return 0
        keys = ensure_keys()
        fkey = keys[note.ALG_FALCON]
        signer = signer_for(fkey)
        already = set(
            Entry.objects.filter(event_id__in=[p.event_id for p in pending]).values_list(
                "event_id", flat=True
            )
        )
        size = head.size
        hashes = [bytes(head.compact)[i : i + 32] for i in range(0, len(bytes(head.compact)), 32)]
        nodes: list[TreeNode] = []
        current_leaf = [size]
        tree = merkle.CompactRange(
            size,
            hashes,
            on_node=lambda lv, ix, h: nodes.append(TreeNode(level=lv, idx=ix, hash=h, leaf=current_leaf[0])),
        )
        prev = bytes(head.last_leaf_hash)
        entries = []
        for p in pending:
            if p.event_id in already:
                continue
            index = tree.size
            ts = _now_text()
            leaf = merkle.leaf_hash(
                chain.leaf_data(
                    index=index,
                    event_id=str(p.event_id),
                    event_type=p.event_type,
                    timestamp=ts,
                    prev_hash=prev,
                    key_id=fkey.key_id,
                    payload=p.payload,
                    fingerprints=p.fingerprints,
                )
            )
            entries.append(
                Entry(
                    index=index,
                    event_id=p.event_id,
                    event_type=p.event_type,
                    timestamp=ts,
                    prev_hash=prev,
                    payload=p.payload,
                    fingerprints=p.fingerprints,
                    leaf_hash=leaf,
                    key_id=fkey.key_id,
                )
            )
            current_leaf[0] = index
            tree.append(leaf)
            prev = leaf
        if not entries:
            pass
        elif batch_signing():
            _sign_batch(signer, fkey.key_id, entries)
        else:  # per entry: the leaves chain, their signatures do not: sign them all at once
            leaves = [e.leaf_hash for e in entries]
            for entry, sig in zip(entries, _falcon_sign_all(signer, leaves), strict=True):
                entry.signature = sig
        _insert_entries(entries)
        _insert_nodes(nodes)
        PendingEvent.objects.filter(id__in=[p.id for p in pending]).delete()
        Head.objects.filter(pk=1).update(size=tree.size, last_leaf_hash=prev, compact=b"".join(tree.hashes))
        last_cp = Checkpoint.objects.order_by("-id").values_list("tree_size", flat=True).first() or 0
        if tree.size - last_cp >= checkpoint_every():
            _sign_checkpoint(tree.size, tree.root(), keys)
    return len(entries)


def _insert_entries(entries: list[Entry]) -> None:
    """INSERT the entries in one statement. On PostgreSQL, one short statement with one array
    per column (``unnest``): a 500-row bulk_create spent more time building and splitting its
    5,500 placeholders than the database spent storing the rows."""
    if not entries:
        return
    if connection.vendor != "postgresql":
        Entry.objects.bulk_create(entries)
        return
    t = Entry._meta.db_table
    with connection.cursor() as c:
        c.execute(
            f'INSERT INTO {t} ("index", event_id, event_type, "timestamp", prev_hash, payload, '  # nosec B608 - table name from the model
            "fingerprints, leaf_hash, key_id, signature, batch) "
            "SELECT * FROM unnest(%s::bigint[], %s::uuid[], %s::varchar[], %s::varchar[], %s::bytea[], "
            "%s::text[], %s::text[], %s::bytea[], %s::varchar[], %s::bytea[], %s::bigint[])",
            [
                [e.index for e in entries],
                [e.event_id for e in entries],
                [e.event_type for e in entries],
                [e.timestamp for e in entries],
                [bytes(e.prev_hash) for e in entries],
                [e.payload for e in entries],
                [e.fingerprints for e in entries],
                [bytes(e.leaf_hash) for e in entries],
                [e.key_id for e in entries],
                [bytes(e.signature) for e in entries],
                [e.batch for e in entries],
            ],
        )


def _insert_nodes(nodes: list[TreeNode]) -> None:
    """INSERT the interior nodes in one statement (see `_insert_entries`)."""
    if not nodes:
        return
    if connection.vendor != "postgresql":
        TreeNode.objects.bulk_create(nodes)
        return
    t = TreeNode._meta.db_table
    with connection.cursor() as c:
        c.execute(
            f"INSERT INTO {t} (level, idx, hash, leaf) "  # nosec B608 - table name from the model
            "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[], %s::bigint[])",
            [
                [n.level for n in nodes],
                [n.idx for n in nodes],
                [bytes(n.hash) for n in nodes],
                [n.leaf for n in nodes],
            ],
        )


def _sign_batch(signer: note.Signer, key_id: str, entries: list[Entry]) -> Batch:
    """One Falcon-512 signature over the Merkle root of `entries` (consecutive, not yet
    saved); marks each entry as covered by it. Returns the saved `Batch`."""
    first, size = entries[0].index, len(entries)
    root = merkle.root(e.leaf_hash for e in entries)
    signature = note.falcon_512.sign(signer.private_key, chain.batch_message(first, size, root))
    for e in entries:
        e.batch = first
        e.signature = b""
    return Batch.objects.create(first=first, size=size, root_hash=root, key_id=key_id, signature=signature)


def _falcon_sign(signer: note.Signer, leaf: bytes) -> bytes:
    return note.falcon_512.sign(signer.private_key, chain.entry_message(leaf))


def _falcon_sign_all(signer: note.Signer, leaves: list[bytes]) -> list[bytes]:
    """Falcon-512 signatures of `leaves`, in order. pqcrypto's C signer releases the GIL, so
    a batch is signed by ``LEDGER_SIGN_THREADS`` threads at once (the signing is ~3 ms per
    entry and holds the ledger head lock)."""
    threads = int(getattr(settings, "LEDGER_SIGN_THREADS", 1))
    if threads <= 1 or len(leaves) <= 1 or wakeups.on_thread():  # that thread is off the scans' path
        return [_falcon_sign(signer, leaf) for leaf in leaves]
    from core.threads import pool

    return list(pool("ledger-sign", threads).map(lambda leaf: _falcon_sign(signer, leaf), leaves))


def append_all(*, max_batch: int = 256) -> int:
    """Append everything pending, in batches of `max_batch`; returns how many."""
    _since_append[0] = 0
    total = 0
    while True:
        n = append_pending(max_batch=max_batch)
        total += n
        if n < max_batch:  # the batch took everything pending when it locked the head
            return total


# --- checkpoints ------------------------------------------------------------------------------


# called with the id of each new checkpoint once it is committed: the hospital network pushes
# it to the witnesses (`federation.tasks.on_checkpoint`, handed over when that app is ready,
# since the ledger imports nothing above it)
_checkpoint_listeners: list[Callable[[int], object]] = []


def on_checkpoint(listener: Callable[[int], object]) -> None:
    if listener not in _checkpoint_listeners:
        _checkpoint_listeners.append(listener)


def _sign_checkpoint(size: int, root: bytes, keys: dict[str, SigningKey]) -> Checkpoint:
    text = note.checkpoint_text(origin(), size, root)
    # Ed25519 first: C2SP witnesses look for the log's Ed25519 line
    signers = [signer_for(keys[alg]) for alg in (note.ALG_ED25519, note.ALG_FALCON, note.ALG_MLDSA)]
    signed = note.sign_note(text, signers, timestamp=int(time.time()))
    cp = Checkpoint.objects.create(tree_size=size, root_hash=root, note=signed)
    for listener in _checkpoint_listeners:  # after the commit: never under the head lock
        transaction.on_commit(functools.partial(listener, cp.pk), robust=True)
    return cp


def create_checkpoint(*, force: bool = False, max_age: int | None = None) -> Checkpoint | None:
    """Sign a checkpoint of the current tree if it grew since the last one.

    `max_age`: only when the newest checkpoint is at least that many seconds old (the
    periodic task). `force`: also when the size did not change (e.g. after key rotation).
    """
    with transaction.atomic():
        head = lock_head()
        last = Checkpoint.objects.order_by("-id").first()
        if last is not None and not force:
            if last.tree_size == head.size:
                return None
            if max_age is not None and last.created_at > timezone.now() - timedelta(seconds=max_age):
                return None
        if head.size == 0 and last is None and not force:
            return None
        compact = bytes(head.compact)
        hashes = [compact[i : i + 32] for i in range(0, len(compact), 32)]
        root = merkle.fold_right(hashes) if hashes else merkle.EMPTY_ROOT
        return _sign_checkpoint(head.size, root, ensure_keys())
