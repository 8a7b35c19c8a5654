"""The out-of-distribution (OOD) evaluation set of the applicability gate, built from sources
on this machine (pure: no Django, no network).

Every image goes through the scan pipeline's own route: the pipeline's DICOM decoder
(``imaging.decode.decode``, passed in as ``decode`` because ``imaging.ml`` may not import its
sibling pure library) and the 128 × 128 INTER_AREA resize of ``imaging.preprocess``
(``contract.pipeline_preprocess`` / ``_pipeline`` here: the same operation), so the detector is
evaluated on exactly what the diagnose stage would see.

Categories (``OODImage.category``):

* ``dicom-<modality>``: pydicom's bundled test files with pixel data that are not chest
  radiographs (CT, MR, US, NM, multi-frame, secondary capture ...), frame 0 as the pipeline does;
* ``skimage``: scikit-image's bundled sample images (photographs, microscopy, text, phantoms);
* ``noise``: uniform and Gaussian noise, salt-and-pepper, low-frequency blobs (seeded);
* ``flat``: constant images (black, white, grey levels) and smooth gradients;
* ``rotated-cxr``: validation chest X-rays rotated by 90° and 180°;
* ``inverted-cxr``: validation chest X-rays with inverted grey levels.

The chest X-ray transforms use **validation** images only (the detector is fitted on train).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from . import contract

SKIMAGE_NAMES = (
    "astronaut",
    "brick",
    "camera",
    "cat",
    "cell",
    "checkerboard",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "shepp_logan_phantom",
    "text",
    "binary_blobs",
)
# pydicom test files that are chest radiographs would be in-distribution: none of the bundled
# files is (checked: their Modality / BodyPartExamined); DX/CR files are excluded by rule anyway
ID_MODALITIES = {"CR", "DX", "DR"}


@dataclass(frozen=True)
class OODImage:
    category: str
    name: str
    image: np.ndarray  # 128 x 128 float32 in [0, 1] (the pipeline's matrix)
    modality: str = ""
    body_part: str = ""


def _pipeline(display: np.ndarray) -> np.ndarray:
    """``imaging.preprocess.preprocess`` of a 2-D display image (a test checks they agree)."""
    img = np.asarray(display, dtype=np.float32)
    out = cv2.resize(img, (contract.PIPELINE_SIZE,) * 2, interpolation=cv2.INTER_AREA)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def dicom_images(decode) -> Iterator[OODImage]:
    """pydicom's bundled test files that decode through the pipeline's decoder `decode`
    (``imaging.decode.decode``: bytes, format → DecodedImage; it raises on undecodable data)."""
    import pydicom
    from pydicom.data import get_testdata_files

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = sorted(f for f in get_testdata_files("*") if f.lower().endswith(".dcm"))
        for path in files:
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:  # noqa: BLE001, S112  # nosec B112 - not a readable DICOM file: not in the set
                continue
            if "PixelData" not in ds and "FloatPixelData" not in ds:
                # stop_before_pixels hides PixelData: look at the tags that announce pixels
                if not ds.get("Rows") or not ds.get("Columns"):
                    continue
            modality = str(ds.get("Modality", "") or "").upper()
            if modality in ID_MODALITIES:
                continue
            try:
                with open(path, "rb") as fh:
                    decoded = decode(fh.read(), "dicom")
            except Exception:  # noqa: BLE001, S112  # nosec B112 - DecodeError: not decodable, not in the set
                continue
            if min(decoded.width, decoded.height) < 8:
                continue
            name = path.rsplit("/", 1)[-1]
            yield OODImage(
                category=f"dicom-{(modality or 'none').lower()}",
                name=name,
                image=_pipeline(decoded.display),
                modality=modality,
                body_part=str(ds.get("BodyPartExamined", "") or ""),
            )


def skimage_images() -> Iterator[OODImage]:
    """scikit-image's bundled sample images (those that need no download)."""
    import skimage.data as sd

    for name in SKIMAGE_NAMES:
        try:
            img = getattr(sd, name)()
        except Exception:  # noqa: BLE001, S112  # nosec B112 - a sample that needs a download: not here
            continue
        img = np.asarray(img)
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[:, :, :3]
        if img.ndim == 3:  # skimage samples are RGB: the pipeline's decoder sees BGR bytes
            img = img[:, :, ::-1]
        if img.dtype == np.bool_:
            img = img.astype(np.uint8) * 255
        if img.dtype not in (np.uint8, np.uint16):
            img = np.clip(img.astype(np.float64), 0, None)
            img = (img / (img.max() or 1.0) * 255).astype(np.uint8)
        yield OODImage("skimage", name, contract.pipeline_preprocess(np.ascontiguousarray(img)))


def noise_images(seed: int = 7, n: int = 10) -> Iterator[OODImage]:
    rng = np.random.default_rng(seed)
    for i in range(n):
        size = int(rng.choice([128, 256, 512]))
        yield OODImage("noise", f"uniform-{i}", _pipeline(rng.random((size, size), dtype=np.float32)))
        g = np.clip(rng.normal(0.5, rng.uniform(0.05, 0.3), (size, size)), 0, 1)
        yield OODImage("noise", f"gaussian-{i}", _pipeline(g))
        sp = (rng.random((size, size)) < rng.uniform(0.05, 0.5)).astype(np.float32)
        yield OODImage("noise", f"salt-pepper-{i}", _pipeline(sp))
        low = rng.random((8, 8)).astype(np.float32)
        blobs = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
        yield OODImage("noise", f"low-frequency-{i}", _pipeline(np.clip(blobs, 0, 1)))


def flat_images() -> Iterator[OODImage]:
    for v in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
        yield OODImage("flat", f"constant-{v:g}", np.full((128, 128), v, dtype=np.float32))
    ramp = np.linspace(0, 1, 128, dtype=np.float32)
    yield OODImage("flat", "ramp-horizontal", np.tile(ramp, (128, 1)))
    yield OODImage("flat", "ramp-vertical", np.tile(ramp[:, None], (1, 128)))
    yy, xx = np.mgrid[-1:1:128j, -1:1:128j]
    yield OODImage("flat", "radial", np.clip(1 - np.sqrt(xx**2 + yy**2), 0, 1).astype(np.float32))


def cxr_transforms(val_images28: np.ndarray, n: int = 100, seed: int = 11) -> Iterator[OODImage]:
    """Rotated (90°, 180°, 270°) and inverted validation chest X-rays (``n`` of each)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(val_images28), size=min(n, len(val_images28)), replace=False)
    for i in idx:
        m = contract.pipeline_preprocess(val_images28[i])
        yield OODImage("rotated-cxr", f"val{i}-rot90", np.ascontiguousarray(np.rot90(m, 1)))
        yield OODImage("rotated-cxr", f"val{i}-rot180", np.ascontiguousarray(np.rot90(m, 2)))
        yield OODImage("rotated-cxr", f"val{i}-rot270", np.ascontiguousarray(np.rot90(m, 3)))
        yield OODImage("inverted-cxr", f"val{i}-inverted", np.ascontiguousarray(1.0 - m))


def build(val_images28: np.ndarray | None = None, *, decode=None, cxr_n: int = 100) -> list[OODImage]:
    """The whole OOD set (deterministic); the DICOM part only with the pipeline's `decode`."""
    out: list[OODImage] = [*(dicom_images(decode) if decode else ()), *skimage_images()]
    out += [*noise_images(), *flat_images()]
    if val_images28 is not None:
        out.extend(cxr_transforms(val_images28, n=cxr_n))
    return out
