"""Node A's side of one shared scan, built in the test database for the clinician-side tests
(this process is node B): A's log is this database's ledger (origin A_ORIGIN), with the scan's
`scan.registered` entry in a checkpoint that B's own witness keys (and optionally more
witnesses) cosigned; B trusts A's log keys and witnessed A at that checkpoint (`WitnessedLog`);
the preview is encrypted under a data key wrapped for B's clinician's public key, as A's node
API answers it (federation/node_api.py). `serve` puts it all behind a `FakeNodeA`."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass, field

import cv2
import numpy as np

from core.keyvault import pseudonym
from crypto import envelope, hybrid_kem
from federation.keys import ensure_log_keys, witness_signers
from federation.models import Peer, PeerKey, WitnessedCheckpoint, WitnessedLog
from imaging.storage import cid_for
from ledger import note
from ledger.models import Checkpoint
from ledger.selectors import receipt_for_event, verifiers
from ledger.services import append_all, create_checkpoint, record_event
from portal import keys as portal_keys
from portal.models import User
from tests.federation.fake_node_a import FakeNodeA

A_ORIGIN = "hospital-a.example/ledger"
B_WITNESS = "hospital-b.example/witness"
A_NAME = "Hospital A"


def preview_png(seed: int = 7) -> bytes:
    rng = np.random.default_rng(seed)
    ok, buf = cv2.imencode(".png", rng.integers(0, 255, (48, 64), dtype=np.uint8))
    assert ok
    return buf.tobytes()


@dataclass
class SharedScan:
    peer: Peer
    clinician: User
    scan_id: uuid.UUID
    object_id: uuid.UUID
    png: bytes
    blob: bytes
    data_key: bytes
    registration: uuid.UUID
    checkpoint: Checkpoint
    access_event: uuid.UUID = field(default_factory=uuid.uuid4)
    shadow_id: uuid.UUID = field(default_factory=uuid.uuid4)  # B's clinician's shadow user at A

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.blob).hexdigest()

    def wrap(self, *, object_id: uuid.UUID | None = None) -> tuple[str, str]:
        """(wrapped key, context) as A hands them over: for the clinician's published key."""
        context = f"qmedchain.datakey:{object_id or self.object_id}:{self.shadow_id}"
        public = bytes(portal_keys.keypair_for(self.clinician).public_key)
        wrapped = hybrid_kem.wrap(public, self.data_key, context=context.encode())
        return base64.b64encode(wrapped).decode(), context

    def document(self, **object_changes) -> dict:
        wrapped, context = self.wrap()
        obj = {
            "object_id": str(self.object_id),
            "kind": "preview",
            "version": 1,
            "cid": cid_for(self.blob),
            "ciphertext_sha256": self.sha256,
            "size": len(self.png),
            "url": f"/federation/v1/objects/{self.object_id}",
            "wrapped_key": wrapped,
            "wrap_context": context,
            **object_changes,
        }
        return {
            "origin": A_ORIGIN,
            "scan": {
                "id": str(self.scan_id),
                "modality": "CR",
                "body_part": "CHEST",
                "source_format": "png",
                "study_date": "2026-01-15",
                "created_at": "2026-01-15T09:30:00+00:00",
                "url": f"/federation/v1/scans/{self.scan_id}",
                "width": 64,
                "height": 48,
                "frames": 1,
            },
            "patient": {"id": str(uuid.uuid4()), "display_name": "Alice Patient"},
            "diagnosis": {"label": "normal", "probability": 0.12, "model_id": "m", "model_version": "1"},
            "key_fingerprint": portal_keys.keypair_for(self.clinician).fingerprint,
            "original": None,
            "objects": {"preview": obj},
            "registration": {
                "event_id": str(self.registration),
                "receipt": receipt_for_event(self.registration, with_openings=True),
            },
            "access": {"event_id": str(self.access_event), "receipt_url": "/federation/v1/receipts/x"},
        }


def cosignature_lines(cp: Checkpoint, signers) -> list[str]:
    text, _ = note.split_note(cp.note)
    return note.signature_lines(text, signers, timestamp=int(time.time()))


def witness(cp: Checkpoint, *signer_sets) -> WitnessedCheckpoint:
    """A's record that `cp` is witnessed, with the cosignature lines of each signer set."""
    lines = [line for signers in signer_sets for line in cosignature_lines(cp, signers)]
    return WitnessedCheckpoint.objects.update_or_create(
        checkpoint=cp, defaults={"tree_size": cp.tree_size, "note": note.add_signatures(cp.note, lines)}
    )[0]


def shared_scan(
    settings, clinician: User, *, url: str = "http://127.0.0.1:9", cosign: bool = True
) -> SharedScan:
    """A's scan for `clinician`, registered on A's log, the checkpoint cosigned by B (unless
    `cosign=False`) and witnessed at B; A trusted at B (a log peer at `url`)."""
    settings.LEDGER_ORIGIN = A_ORIGIN
    settings.FEDERATION_WITNESS_NAME = B_WITNESS
    ensure_log_keys()
    peer = Peer.objects.create(origin=A_ORIGIN, url=url, role=Peer.ROLE_LOG, name=A_NAME)
    for v in verifiers():
        PeerKey.objects.create(
            peer=peer, purpose="log", vkey=v.vkey, name=v.name, key_id=v.key_id_hex, algorithm=v.algorithm
        )
    scan_id, object_id = uuid.uuid4(), uuid.uuid4()
    png = preview_png()
    data_key = envelope.new_data_key()
    blob = envelope.encrypt(png, data_key, object_id=str(object_id), kind="preview", version=1)
    registration = record_event(
        event_type="scan.registered",
        payload={
            "scan_id": scan_id,
            "patient": pseudonym("patient", uuid.uuid4()),
            "derived_sha256": hashlib.sha256(blob).hexdigest(),
            "derived_cid": cid_for(blob),
        },
        enqueue=False,
    )
    append_all()
    cp = create_checkpoint(force=True)
    assert cp is not None
    if cosign:
        witness(cp, witness_signers())
    WitnessedLog.objects.create(peer=peer, size=cp.tree_size, root_hash=cp.root_hash, checkpoint=cp.note)
    return SharedScan(peer, clinician, scan_id, object_id, png, blob, data_key, registration, cp)


def serve(world: SharedScan, server: FakeNodeA, **object_changes) -> None:
    """The scan's answers at A, the peer's URL pointed at `server`."""
    Peer.objects.filter(pk=world.peer.pk).update(url=server.url)
    world.peer.url = server.url
    server.json(f"/federation/v1/scans/{world.scan_id}", world.document(**object_changes))
    server.bytes(f"/federation/v1/objects/{world.object_id}", world.blob)
    server.json(
        "/federation/v1/shared",
        {
            "origin": A_ORIGIN,
            "patients": [
                {
                    "patient": {"id": str(uuid.uuid4()), "display_name": "Alice Patient"},
                    "scans": [world.document()["scan"]],
                }
            ],
        },
    )
