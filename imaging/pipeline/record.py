"""Stage 5, recording: ONE transaction marks the scan done, creates its ScanObjects from the
staged rows, deletes those rows and records ``scan.registered`` for the ledger (signed
shortly after, in a batch with the other scans recorded meanwhile). Any error rolls all of
it back, so no one ever sees a scan done without its objects and event; ``recording`` is
this transaction rather than a status committed on its own."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from imaging import preprocess
from imaging.models import Acquisition, Scan, ScanObject, StagedObject
from imaging.pipeline import faults
from imaging.pipeline.status import (
    DERIVED_KINDS,
    DONE,
    MATRIX,
    ORIGINAL,
    PREVIEW,
    PipelineFailure,
    advance,
    ledger_event_id,
)
from imaging.storage import BlobStore


def manifest(objects: Iterable[ScanObject]) -> dict[str, Any]:
    """Canonical description of a scan's stored objects (its SHA-256 goes on the ledger)."""
    return {
        "objects": [
            {"kind": o.kind, "version": o.version, "cid": o.cid, "ciphertext_sha256": o.ciphertext_sha256}
            for o in sorted(objects, key=lambda o: (o.kind, o.version))
        ]
    }


def manifest_sha256(objects: Iterable[ScanObject]) -> str:
    text = json.dumps(manifest(objects), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def ledger_payload(
    scan: Scan, *, objects: list[ScanObject] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """(payload, fingerprints) of `scan.registered`.

    Field mapping (the ledger schema's scan fields): ``ciphertext_cid`` /
    ``ciphertext_sha256`` = the encrypted original; ``derived_cid`` / ``derived_sha256`` =
    the encrypted preview PNG; ``cid`` / ``sha256`` = the encrypted 128x128 matrix;
    ``manifest_sha256`` = SHA-256 of `manifest` (all objects); ``original_sha256`` = the
    plaintext upload; ``pixel_sha256`` = the canonical matrix bytes. The preprocessing
    version is the fingerprint name ``pixels-preprocess-v<N>`` (value: the pixel hash),
    since the schema has no version field for scan events. ``qwalk`` is the simulated
    quantum-walk hash of `diagnose.qwalk_message` (secondary fingerprint). The model version
    has no field of its own in scan events either; the registered model ids carry it
    (``pneumonia-qcnn8-1.0.0``). A scan the applicability gate refused commits to the label
    ``not-applicable`` and no probability.
    """
    from core.keyvault import pseudonym

    objs = {o.kind: o for o in (objects if objects is not None else ScanObject.objects.filter(scan=scan))}
    orig, prev, mat = objs[ORIGINAL], objs[PREVIEW], objs[MATRIX]
    payload: dict[str, Any] = {
        "scan_id": scan.id,
        "patient": pseudonym("patient", scan.patient_id),
        "format": scan.source_format,
        "pixel_sha256": scan.pixel_sha256,
        "original_sha256": scan.original_sha256,
        "ciphertext_sha256": orig.ciphertext_sha256,
        "ciphertext_cid": orig.cid,
        "derived_sha256": prev.ciphertext_sha256,
        "derived_cid": prev.cid,
        "sha256": mat.ciphertext_sha256,
        "cid": mat.cid,
        "manifest_sha256": manifest_sha256(objs.values()),
        "label": scan.diagnosis_label,
        "probability": float(scan.diagnosis_probability or 0.0),
        "model_id": scan.model_id.lower()[:48],
        "model_sha256": scan.model_sha256,
        "storage": orig.backend,
        "width": scan.width or 0,
        "height": scan.height or 0,
        "frames": scan.frames,
    }
    if scan.diagnosis_applicable is False:
        # the applicability gate refused the image: the commitment is to "not-applicable",
        # with no label and no probability
        from imaging.ml.applicability import LEDGER_LABEL

        payload["label"] = LEDGER_LABEL
        del payload["probability"]
    if scan.modality and scan.modality.lower().isalnum():
        payload["modality"] = scan.modality.lower()
    if scan.acquisition == Acquisition.GHOST:
        payload["kind"] = scan.acquisition  # the pixels are a SIMULATED re-acquisition
    fingerprints = {
        f"pixels-preprocess-v{scan.preprocess_version or preprocess.PREPROCESS_VERSION}": scan.pixel_sha256
    }
    if scan.qwalk_hash:
        fingerprints["qwalk"] = scan.qwalk_hash
    return payload, fingerprints


def finish(scan: Scan) -> bool:
    """Mark the scan done with its ledger event id and release its claim: the UPDATE takes
    the row lock that the recording transaction holds until its commit. False if a
    concurrent delivery already finished it; PipelineFailure if it was marked failed."""
    return advance(
        scan,
        DONE,
        unless_there=True,
        ledger_event_id=ledger_event_id(scan.pk),
        failure_reason="",
        claim=None,  # released with the commit (the WHERE still checks this delivery's token)
        claimed_by="",
    )


def record(scan: Scan, stored: list[StagedObject], store: BlobStore) -> bool:
    """The recording transaction for the `stored` objects (their blobs are in the store);
    False if a concurrent delivery finished the scan first."""
    with transaction.atomic(durable=True):
        if not finish(scan):
            return False
        faults.point("recording")
        have = {o.kind: o for o in ScanObject.objects.filter(scan_id=scan.pk)}
        current = {
            row[0]: row
            for row in StagedObject.objects.filter(pk__in=[s.pk for s in stored]).values_list(
                "id", "cid", "ciphertext_sha256", "plaintext_size"
            )
        }
        new = []
        for staged in stored:
            row = current.get(staged.id)
            if row is None or staged.kind in have:
                continue  # committed by a concurrent delivery
            _id, cid, ciphertext_sha256, plaintext_size = row
            if cid != staged.cid:  # a concurrent delivery re-staged it: our blob is unnamed
                store.delete(staged.cid)
                continue
            new.append(
                ScanObject(
                    id=staged.id,
                    scan_id=scan.pk,
                    kind=staged.kind,
                    version=staged.version,
                    cid=staged.cid,
                    ciphertext_sha256=ciphertext_sha256,
                    plaintext_size=plaintext_size,
                    backend=store.name,
                )
            )
        have.update({o.kind: o for o in new})
        missing = [k for k in DERIVED_KINDS if k not in have]
        if missing:
            raise PipelineFailure(f"Derived objects missing after storing: {', '.join(missing)}.")
        ScanObject.objects.bulk_create(new)
        StagedObject.objects.filter(pk__in=[o.id for o in new]).delete()
        _record_event(scan, list(have.values()))
    return True


def _record_event(scan: Scan, objects: list[ScanObject]) -> None:
    from ledger.services import record_event

    payload, fingerprints = ledger_payload(scan, objects=objects)
    record_event(
        event_type="scan.registered",
        payload=payload,
        fingerprints=fingerprints,
        event_id=ledger_event_id(scan.pk),
        enqueue=False,  # the runner schedules one batched append after the commit
        # `finish` found the scan not done under its lock, and `done` is only ever set in
        # this same transaction, so the event cannot have been recorded before
        known_new=True,
    )
