"""Loading of MedMNIST-format ``.npz`` files (``<split>_images``, ``<split>_labels``).

Pure: no Django import.  Every problem raises :class:`DatasetError` with a message that
names the file, the key and what is wrong.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass

import numpy as np


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or does not follow the MedMNIST layout."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (n, h, w) uint8
    labels: np.ndarray  # (n,) int64 in {0, 1}; 1 = pneumonia
    name: str
    path: str


def available_splits(path: str | os.PathLike) -> list[str]:
    with _open(path) as data:
        return sorted(k[: -len("_images")] for k in data.files if k.endswith("_images"))


def _open(path: str | os.PathLike):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DatasetError(f"{path}: file not found")
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: not a regular file")
    try:
        return np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable .npz archive ({exc})") from exc


def load_split(path: str | os.PathLike, split: str) -> Split:
    """Load ``<split>_images`` (n, H, W) or (n, H, W, 1) uint8/float and binary ``<split>_labels``."""
    path = os.fspath(path)
    img_key, lab_key = f"{split}_images", f"{split}_labels"
    with _open(path) as data:
        files = set(data.files)
        missing = [k for k in (img_key, lab_key) if k not in files]
        if missing:
            have = sorted(k[: -len("_images")] for k in files if k.endswith("_images"))
            raise DatasetError(
                f"{path}: missing key(s) {', '.join(missing)}; splits present: {have or 'none'} "
                f"(keys: {sorted(files)})"
            )
        try:
            images = data[img_key]
            labels = data[lab_key]
        except ValueError as exc:  # object arrays need pickle: refuse
            raise DatasetError(f"{path}: {img_key}/{lab_key} cannot be read without pickle ({exc})") from exc

    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise DatasetError(
            f"{path}: {img_key} has shape {images.shape}; expected (n, H, W) grayscale images "
            "(or (n, H, W, 1))"
        )
    n, h, w = images.shape
    if n == 0:
        raise DatasetError(f"{path}: {img_key} is empty")
    if h < 8 or w < 8:
        raise DatasetError(f"{path}: {img_key} images are {h}x{w}; expected at least 8x8")
    if images.dtype == np.uint8:
        pass
    elif np.issubdtype(images.dtype, np.floating):
        if not np.all(np.isfinite(images)) or images.min() < 0.0 or images.max() > 1.0:
            raise DatasetError(f"{path}: {img_key} is floating point but not finite values in [0, 1]")
        images = np.rint(images * 255.0).astype(np.uint8)
    else:
        raise DatasetError(f"{path}: {img_key} has dtype {images.dtype}; expected uint8 (or float in [0, 1])")

    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DatasetError(
            f"{path}: {lab_key} has shape {labels.shape}; expected (n,) or (n, 1) binary labels"
        )
    if labels.shape[0] != n:
        raise DatasetError(f"{path}: {img_key} has {n} images but {lab_key} has {labels.shape[0]} labels")
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.bool_)):
        if np.issubdtype(labels.dtype, np.floating) and np.all(np.isin(labels, (0.0, 1.0))):
            pass
        else:
            raise DatasetError(f"{path}: {lab_key} has dtype {labels.dtype}; expected integer labels 0/1")
    values = np.unique(labels)
    bad = [v for v in values.tolist() if v not in (0, 1)]
    if bad:
        raise DatasetError(
            f"{path}: {lab_key} is not binary: found values {sorted(values.tolist())[:10]}; "
            "expected 0 = normal, 1 = pneumonia"
        )
    return Split(images=np.ascontiguousarray(images), labels=labels.astype(np.int64), name=split, path=path)
