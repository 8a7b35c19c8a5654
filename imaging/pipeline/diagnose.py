"""Stage 2, diagnosing: the applicability gate (is it a chest X-ray? DICOM metadata, then the
learned out-of-distribution detector), the registered model's prediction on the 128 x 128
matrix only when it is, the saliency map of that prediction, and the SIMULATED quantum-walk
fingerprint (secondary; SHA-256 stays primary). Pure given the loaded model; `active_model`
is the one registry read."""

from __future__ import annotations

from typing import Any

import numpy as np

from imaging import diagnosis, preprocess
from imaging.pipeline.status import SALIENCY, PipelineFailure

QWALK_PREFIX = b"QMC-QWALK-v1"
QWALK_GRID = 32


def qwalk_message(matrix: Any, pixel_sha256: str) -> bytes:
    """Exactly what the secondary quantum-walk fingerprint hashes (1,068 bytes).

    ``b"QMC-QWALK-v1"`` (12 bytes) || SHA-256 of the canonical matrix bytes (the 32 raw
    digest bytes of ``pixel_sha256``) || a 32 x 32 downsample of the 128 x 128 matrix: the
    mean of each 4 x 4 block (float64), times 255, rounded half-to-even, as uint8, row-major
    (1,024 bytes). Hashing the whole 65,536-byte matrix would take ~0.26 s per scan with the
    simulated walk (one 66 x 66 mat-vec per byte); this message takes ~4 ms and still binds
    every pixel through the SHA-256 digest.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (preprocess.SIZE, preprocess.SIZE):
        raise ValueError(f"matrix must be {preprocess.SIZE}x{preprocess.SIZE}, got {m.shape}")
    k = preprocess.SIZE // QWALK_GRID
    small = m.reshape(QWALK_GRID, k, QWALK_GRID, k).mean(axis=(1, 3))
    grid = np.round(np.clip(small, 0.0, 1.0) * 255.0).astype(np.uint8)
    return QWALK_PREFIX + bytes.fromhex(pixel_sha256) + bytes(grid.tobytes(order="C"))


def qwalk_fingerprint(matrix: Any, pixel_sha256: str) -> str:
    """Simulated quantum-walk hash (secondary fingerprint; SHA-256 stays primary), 64 hex."""
    from quantum.qwalk_hash import qwalk_hexdigest

    return qwalk_hexdigest(qwalk_message(matrix, pixel_sha256))


def active_model() -> Any:
    """The loaded active diagnosis model (registering the built-in ones on first use);
    PipelineFailure if there is none usable."""
    try:
        _row, model = diagnosis.active_model()
    except diagnosis.ModelUnavailable as exc:
        raise PipelineFailure(f"No usable diagnosis model: {exc}") from exc
    return model


def metadata_of(scan: Any, decoded: Any = None) -> Any:
    """The applicability gate's metadata: the scan's DICOM modality and body part (those of
    the upload, else of the decoded file). PNG / JPEG uploads have none."""
    from imaging.ml.applicability import Metadata

    return Metadata(
        modality=str(getattr(scan, "modality", "") or getattr(decoded, "modality", "") or ""),
        body_part=str(getattr(scan, "body_part", "") or getattr(decoded, "body_part", "") or ""),
    )


def diagnose(
    matrix: Any, pixel_sha256: str, *, model: Any = None, fingerprint: bool = True, meta: Any = None
) -> dict[str, Any]:
    """The scan columns this stage fills: ``qwalk_hash`` (if `fingerprint`) and, with a
    `model`, the gate's verdict, the prediction (none when not applicable) and the model's
    id, version and SHA-256. A redelivery passes only what the scan does not have yet (the
    first values are kept)."""
    found: dict[str, Any] = {}
    if fingerprint:
        found["qwalk_hash"] = qwalk_fingerprint(matrix, pixel_sha256)
    if model is not None:
        try:
            pred = diagnosis.predict_with(model, matrix, meta)
        except diagnosis.ModelUnavailable as exc:
            raise PipelineFailure(f"No usable diagnosis model: {exc}") from exc
        found.update(
            diagnosis_label=pred.label,
            diagnosis_probability=pred.probability,
            diagnosis_applicable=pred.applicable,
            diagnosis_reason=pred.reason[:300],
            model_id=pred.model_id,
            model_version=pred.model_version,
            model_sha256=pred.model_sha256,
        )
    return found


def saliency_plaintexts(scan: Any, matrix: Any, model: Any = None) -> dict[str, bytes]:
    """{"saliency": PNG} of an applicable scan's prediction (the model's CAM, else occlusion;
    ``imaging.ml.saliency``), {} otherwise. `model`: the loaded model that diagnosed it; a
    redelivery (None) loads the active one, and makes no map if that is no longer the model
    that diagnosed the scan (the map must explain the stored prediction)."""
    from imaging.ml import saliency

    if not getattr(scan, "diagnosis_applicable", False):
        return {}
    if model is None:
        try:
            model = active_model()
        except PipelineFailure:
            return {}
    if getattr(model, "sha256", None) != scan.model_sha256:
        return {}
    heat = saliency.saliency_map(model.model, np.asarray(matrix, dtype=np.float32))
    return {SALIENCY: saliency.heat_png(heat)}
