"""Demo events for a seeded ledger (pseudonymous ids and random hashes only)."""

import hashlib
import os
import uuid

from django.utils import timezone


def demo_payload(i: int) -> tuple[str, dict]:
    pid = hashlib.sha256(b"demo-patient-%d" % (i % 7)).hexdigest()[:32]
    doc = hashlib.sha256(b"demo-clinician-%d" % (i % 3)).hexdigest()[:32]
    kind = i % 4
    if kind == 0:
        return "scan.registered", {
            "scan_id": str(uuid.uuid4()),
            "patient": pid,
            "uploader": doc,
            "pixel_sha256": hashlib.sha256(os.urandom(16)).hexdigest(),
            "model_id": "qcnn-v1",
            "diagnosis": "pneumonia" if i % 2 else "normal",
            "score": round((i % 10) / 10, 2),
            "at": timezone.now(),
        }
    if kind == 1:
        return "consent.granted", {
            "consent_id": str(uuid.uuid4()),
            "patient": pid,
            "grantee": doc,
            "scope": "read",
        }
    if kind == 2:
        return "scan.accessed", {
            "scan_id": str(uuid.uuid4()),
            "actor": doc,
            "patient": pid,
            "decision": "allow",
        }
    return "access.denied", {"actor": doc, "patient": pid, "reason": "no-consent", "decision": "deny"}


def seed_demo(count: int) -> dict:
    from ledger.services import append_all, create_checkpoint, record_event

    ids = [record_event(event_type=t, payload=p) for t, p in (demo_payload(i) for i in range(count))]
    appended = append_all()
    cp = create_checkpoint()
    return {"recorded": len(ids), "appended": appended, "checkpoint_size": cp.tree_size if cp else None}
