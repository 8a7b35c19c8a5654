"""The scan pipeline, one module per stage (see `runner` for the rules that tie them).

Stages, in order, each a plain function of its inputs:
    prepare   decode + preprocess (+ simulated ghost imaging)
    diagnose  the registered model's prediction + the quantum-walk fingerprint
    seal      AES-256-GCM of the derived objects under new data keys
    store     stage (wraps + CIDs in one transaction), then put the blobs
    record    done + ScanObjects + ``scan.registered`` in one transaction
Around them:
    runner    one delivery, start to end: idempotency, status and retry rules, one log line
    status    the forward-only status UPDATE, ids, errors
    claim     the UPDATE that claims and counts a delivery
    leases    heartbeats and the sweep that dispatches stalled scans again
    broker    publish a scan's message, read the queue's backlog
    read      decrypt a stored object for a reader (whole, or streamed chunk by chunk)
    faults    fault injection for the reliability tests (off unless ``QMC_FAULTS``)
"""

from imaging.pipeline.diagnose import qwalk_fingerprint, qwalk_message
from imaging.pipeline.prepare import GhostResult, ghost_acquire, ghost_seed
from imaging.pipeline.read import decrypt_object, read_object, stream_object
from imaging.pipeline.record import ledger_payload, manifest, manifest_sha256
from imaging.pipeline.runner import MAX_ATTEMPTS, MAX_RETRIES, requeue_stalled, run
from imaging.pipeline.status import (
    DERIVED_KINDS,
    ClaimLost,
    PipelineFailure,
    derived_object_id,
    ledger_event_id,
    mark_failed,
)
from imaging.storage import StorageUnavailable

__all__ = [
    "DERIVED_KINDS",
    "MAX_ATTEMPTS",
    "MAX_RETRIES",
    "ClaimLost",
    "GhostResult",
    "PipelineFailure",
    "StorageUnavailable",
    "decrypt_object",
    "derived_object_id",
    "ghost_acquire",
    "ghost_seed",
    "ledger_event_id",
    "ledger_payload",
    "manifest",
    "manifest_sha256",
    "mark_failed",
    "qwalk_fingerprint",
    "qwalk_message",
    "read_object",
    "requeue_stalled",
    "run",
    "stream_object",
]
