"""Artifact files: ``<name>.npz`` (arrays, no pickle), ``<name>.json`` (card), ``<name>.md``."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # deterministic bytes for equal arrays (fixed zip timestamps)
    return buf.getvalue()


def write_artifact(name: str, arrays: dict, card: dict, markdown: str, directory: Path | None = None) -> str:
    directory = Path(directory or ARTIFACT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    data = npz_bytes(arrays)
    digest = hashlib.sha256(data).hexdigest()
    (directory / f"{name}.npz").write_bytes(data)
    card = dict(card, artifact=f"{name}.npz", sha256=digest, artifact_bytes=len(data))
    (directory / f"{name}.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    (directory / f"{name}.md").write_text(markdown.replace("{SHA256}", digest))
    return digest


def read_artifact(name: str, directory: Path | None = None, verify: bool = True) -> tuple[dict, dict, str]:
    """Return (arrays, card, sha256).  The hash is recomputed from the bytes and checked."""
    directory = Path(directory or ARTIFACT_DIR)
    npz_path = directory / f"{name}.npz"
    card_path = directory / f"{name}.json"
    if not npz_path.exists() or not card_path.exists():
        raise FileNotFoundError(f"model artifact {npz_path} / {card_path} not found; run `diagnose train`")
    data = npz_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    card = json.loads(card_path.read_text())
    if verify and card.get("sha256") != digest:
        raise ValueError(f"{npz_path}: SHA-256 {digest} does not match the model card ({card.get('sha256')})")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, card, digest
