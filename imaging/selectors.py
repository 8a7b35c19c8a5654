"""Reads of the imaging app: scan lists, decrypted images for one reader, integrity checks."""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from dataclasses import dataclass, field

from django.urls import reverse

from crypto import envelope
from imaging import blobs, preprocess
from imaging.models import ObjectKind, Scan, ScanObject, ScanStatus
from imaging.pipeline import ledger_payload, read_object
from imaging.storage import BlobCorrupted, BlobNotFound, StorageError, StorageUnavailable

log = logging.getLogger(__name__)


def scan_by_id(scan_id) -> Scan | None:
    try:
        pk = uuid.UUID(str(scan_id))
    except ValueError:
        return None
    return Scan.objects.select_related("patient", "uploaded_by").filter(pk=pk).first()


def scans_of(patient):
    return Scan.objects.filter(patient=patient).order_by("-created_at")


def status_of(scan: Scan) -> dict:
    out = {
        "id": str(scan.id),
        "status": scan.status,
        "status_label": scan.get_status_display(),
        "progress": scan.progress_percent,
        "done": scan.status == ScanStatus.DONE,
        "failed": scan.status == ScanStatus.FAILED,
        "failure_reason": scan.failure_reason,
        "status_url": reverse("imaging-api:scan-status", args=[scan.id]),
        "page_url": reverse("imaging:scan", args=[scan.id]),
        "updated_at": scan.updated_at.isoformat(),
    }
    if scan.status == ScanStatus.DONE:
        out["diagnosis"] = {
            "applicable": scan.diagnosis_applicable,
            "reason": scan.diagnosis_reason,
            "label": scan.diagnosis_label,
            "probability": scan.diagnosis_probability,
            "model_id": scan.model_id,
            "model_version": scan.model_version,
            "model_sha256": scan.model_sha256,
        }
        out["pixel_sha256"] = scan.pixel_sha256
        out["ledger_event_id"] = str(scan.ledger_event_id) if scan.ledger_event_id else None
    return out


@dataclass
class Images:
    preview_png: bytes | None = None
    matrix_png: bytes | None = None
    error: str = ""

    @staticmethod
    def _uri(data: bytes | None) -> str:
        return "data:image/png;base64," + base64.b64encode(data).decode() if data else ""

    @property
    def preview_png_uri(self) -> str:
        return self._uri(self.preview_png)

    @property
    def matrix_png_uri(self) -> str:
        return self._uri(self.matrix_png)


def images_for(scan: Scan, *, reader) -> Images:
    """Decrypt the preview and the 128x128 matrix with the keys wrapped for `reader`.

    Any integrity problem yields an error message and *no* image."""
    from portal.keys import KeyAccessError

    objs = {
        o.kind: o
        for o in ScanObject.objects.filter(scan=scan, kind__in=[ObjectKind.PREVIEW, ObjectKind.MATRIX])
    }
    if len(objs) < 2:
        return Images(error="" if scan.status != ScanStatus.DONE else "The derived images are missing.")
    store = blobs.store()
    try:
        preview = read_object(objs[ObjectKind.PREVIEW], reader=reader, store=store)
        matrix = preprocess.matrix_from_bytes(
            read_object(objs[ObjectKind.MATRIX], reader=reader, store=store)
        )
    except KeyAccessError:
        return Images(error="You hold no decryption key for this scan's images (consent may have changed).")
    except (BlobCorrupted, envelope.IntegrityError, ValueError):
        log.warning("integrity failure reading scan %s", scan.pk)
        return Images(
            error="A stored image of this scan failed its integrity check (it is damaged or was altered), "
            "so it is not shown. The administrator has been told."
        )
    except BlobNotFound:
        return Images(error="A stored image of this scan is missing from storage.")
    except StorageUnavailable:
        return Images(error="Storage is unavailable right now; try again in a few minutes.")
    except StorageError:
        return Images(error="The stored image could not be read.")
    return Images(preview_png=preview, matrix_png=preprocess.render_matrix(matrix))


@dataclass
class Integrity:
    checked: bool = False
    ciphertext_ok: bool = False
    ledger_ok: bool | None = None  # None: no ledger entry yet
    proof_ok: bool | None = None  # None: no checkpoint covers the entry yet
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.checked and self.ciphertext_ok and self.ledger_ok is True

    @property
    def level(self) -> str:
        if not self.checked:
            return "warn"
        if not self.ciphertext_ok or self.ledger_ok is False or self.proof_ok is False:
            return "bad"
        return "ok" if self.ledger_ok and self.proof_ok else "warn"


def integrity_of(scan: Scan) -> Integrity:
    """Re-hash every stored ciphertext, compare with ScanObject and with the ledger entry,
    and verify the receipt's inclusion proof when a checkpoint covers the entry."""
    res = Integrity()
    if scan.status != ScanStatus.DONE:
        res.details.append("Processing is not finished.")
        return res
    store = blobs.store()
    objs: list[ScanObject] = list(ScanObject.objects.filter(scan=scan))
    res.checked = True
    res.ciphertext_ok = True
    for o in objs:
        try:
            blob = store.get(o.cid)
            ok = hashlib.sha256(blob).hexdigest() == o.ciphertext_sha256
        except (StorageError, ValueError) as exc:
            ok = False
            res.details.append(f"{o.get_kind_display()}: could not be read ({type(exc).__name__}).")
        res.ciphertext_ok &= ok
        if ok:
            res.details.append(f"{o.get_kind_display()}: ciphertext SHA-256 matches ({o.cid[:16]}…).")
    from ledger.selectors import entry_for_event, receipt_for_event

    entry = entry_for_event(scan.ledger_event_id) if scan.ledger_event_id else None
    if entry is None:
        res.details.append("The ledger entry is not appended yet (signing runs in the background).")
        return res
    import json

    try:
        from ledger import chain
        from ledger.selectors import openings_for_event, record

        if chain.payload_version(entry.payload) == 2:  # the facts behind its commitments, checked
            recorded = chain.open_entry(record(entry), openings_for_event(scan.ledger_event_id))
        else:
            recorded = json.loads(entry.payload)
        expected, _ = ledger_payload(scan)
        keys = (
            "ciphertext_sha256",
            "ciphertext_cid",
            "derived_sha256",
            "derived_cid",
            "sha256",
            "cid",
            "pixel_sha256",
        )
        res.ledger_ok = all(recorded.get(k) == expected[k] for k in keys)
    except Exception:  # noqa: BLE001
        res.ledger_ok = False
    res.details.append(
        f"Ledger entry #{entry.index}: "
        + ("hashes and CIDs match." if res.ledger_ok else "does NOT match the stored objects.")
    )
    try:
        receipt = receipt_for_event(scan.ledger_event_id, with_openings=True)
    except Exception:  # noqa: BLE001
        receipt = None
    if receipt is None:
        res.details.append("No signed checkpoint covers the entry yet; inclusion proof pending.")
        return res
    try:
        from ledger.verify_offline import verify_receipt

        v = verify_receipt(receipt)
        res.proof_ok = True
        res.details.append(
            f"Inclusion proof verified against the signed checkpoint of size {v['tree_size']}."
        )
    except Exception as exc:  # noqa: BLE001
        res.proof_ok = False
        res.details.append(f"Inclusion proof did NOT verify ({type(exc).__name__}).")
    return res


# ---------------------------------------------------------------- model registry


def diagnosis_models(task: str | None = None):
    from imaging.models import DiagnosisModel

    qs = DiagnosisModel.objects.all()
    return qs.filter(task=task) if task else qs


def diagnosis_model_by_pk(pk):
    from imaging.models import DiagnosisModel

    try:
        return DiagnosisModel.objects.filter(pk=uuid.UUID(str(pk))).first()
    except ValueError:
        return None


def model_for_scan(scan: Scan):
    """The registry row of the model that produced `scan`'s diagnosis (id, version and hash)."""
    from imaging.models import DiagnosisModel

    if not scan.model_sha256:
        return None
    return DiagnosisModel.objects.filter(
        model_id=scan.model_id, version=scan.model_version, sha256=scan.model_sha256
    ).first()


# ---------------------------------------------------------------- diagnosis: gate, wording, saliency


@dataclass
class SaliencyOverlay:
    status: int = 200
    message: str = ""
    png: bytes = b""


def has_saliency(scan: Scan) -> bool:
    return bool(
        scan.diagnosis_applicable and ScanObject.objects.filter(scan=scan, kind=ObjectKind.SALIENCY).exists()
    )


def saliency_overlay_for(scan: Scan, *, reader) -> SaliencyOverlay:
    """The stored (encrypted) saliency map, decrypted with `reader`'s key wrap and drawn as a
    colour-map PNG with alpha; a status and message instead when it cannot be shown."""
    from imaging.ml import saliency
    from portal.keys import KeyAccessError

    if not scan.diagnosis_applicable:
        return SaliencyOverlay(404, "This scan has no saliency map (it was not diagnosed).")
    obj = ScanObject.objects.filter(scan=scan, kind=ObjectKind.SALIENCY).order_by("-version").first()
    if obj is None:
        return SaliencyOverlay(404, "This scan has no saliency map.")
    try:
        heat = saliency.heat_from_png(read_object(obj, reader=reader))
    except KeyAccessError:
        return SaliencyOverlay(
            403, "You hold no decryption key for this scan's images (consent may have changed)."
        )
    except (BlobCorrupted, envelope.IntegrityError, ValueError):
        log.warning("integrity failure reading the saliency map of scan %s", scan.pk)
        return SaliencyOverlay(409, "The stored saliency map failed its integrity check; it is not shown.")
    except BlobNotFound:
        return SaliencyOverlay(404, "The stored saliency map is missing from storage.")
    except StorageError:
        return SaliencyOverlay(503, "Storage is unavailable right now; try again in a few minutes.")
    return SaliencyOverlay(png=saliency.overlay_png(heat, size=(256, 256)))


def diagnosis_wording(scan: Scan, model) -> dict:
    """What the scan page says about the diagnosis: the gate's verdict, or the calibrated
    probability with the model's validation sensitivity and specificity at its threshold
    (from the registry row's metrics), in words a clinician reads."""
    out: dict = {"applicable": scan.diagnosis_applicable is not False}
    if scan.diagnosis_applicable is False:
        out["reason"] = scan.diagnosis_reason
        return out
    metrics = (getattr(model, "metrics", None) or {}) if model is not None else {}

    def pct(key: str) -> int | None:
        v = metrics.get(key)
        return round(float(v) * 100) if isinstance(v, int | float) else None

    out.update(
        label=scan.diagnosis_label,
        sensitivity_pct=pct("sensitivity"),
        specificity_pct=pct("specificity"),
        # a calibration step in the card (Platt scaling, temperature, isotonic) or its ECE in the metrics
        calibrated=bool(
            metrics.get("ece") is not None
            or metrics.get("calibration")
            or any(w in (getattr(model, "card_text", "") or "") for w in ("Platt", "calibrat"))
        ),
    )
    return out
