"""The applicability gate: is this image one the pneumonia model was made for? (pure: no Django)

The models were trained on frontal chest radiographs only. Two checks, before any model runs:

1. **Metadata** (`metadata_check`): for DICOM, the Modality must be a radiograph (CR, DX or
   DR) and, where present, BodyPartExamined, ViewPosition and the study / series description
   must say chest (CHEST, THORAX, LUNG ...; PA, AP, LL, LATERAL ... views). PNG / JPEG uploads
   carry none of these: then only the image check decides.
2. **Image** (`ood.OODDetector`): a learned out-of-distribution detector on the classical
   model's own features, thresholded to keep >= 99 % of validation chest X-rays.

`assess` runs both and returns a `Verdict` whose ``reason`` a clinician reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOT_APPLICABLE = "not applicable: the model is for chest X-rays"
LEDGER_LABEL = "not-applicable"  # what the ledger commits to instead of a label
RADIOGRAPH_MODALITIES = frozenset({"CR", "DX", "DR"})
MODALITY_NAMES = {
    "CT": "a CT scan",
    "MR": "an MRI scan",
    "US": "an ultrasound image",
    "NM": "a nuclear medicine image",
    "PT": "a PET image",
    "MG": "a mammogram",
    "XA": "an angiogram",
    "RF": "a fluoroscopy image",
    "OT": "an image of another kind",
    "SC": "a secondary capture",
    "IO": "an intra-oral X-ray",
    "PX": "a panoramic dental X-ray",
    "OP": "an eye photograph",
    "XC": "a photograph",
    "ES": "an endoscopy image",
    "SM": "a slide microscopy image",
}
CHEST_WORDS = ("CHEST", "THORAX", "THORAC", "LUNG", "PULMO", "CXR", "TORAX", "THORAKS", "POUMON", "RIB")
CHEST_VIEWS = frozenset({"PA", "AP", "LL", "RL", "LATERAL", "LAT", "LLD", "RLD", "AP SUPINE", "PA ERECT"})
NON_CHEST_VIEWS = frozenset({"CC", "MLO", "ML", "LM", "XCC", "XCCL", "XCCM", "SIO", "FB", "LMO"})


@dataclass(frozen=True)
class Metadata:
    modality: str = ""
    body_part: str = ""
    view_position: str = ""
    study_description: str = ""
    series_description: str = ""

    @classmethod
    def from_dataset(cls, ds) -> Metadata:
        """From a pydicom Dataset (only these five tags are read)."""

        def tag(name: str) -> str:
            return str(ds.get(name, "") or "")[:128]

        return cls(
            modality=tag("Modality"),
            body_part=tag("BodyPartExamined"),
            view_position=tag("ViewPosition"),
            study_description=tag("StudyDescription"),
            series_description=tag("SeriesDescription"),
        )


@dataclass(frozen=True)
class Verdict:
    applicable: bool
    reason: str  # "" when applicable; else NOT_APPLICABLE + " (detail)"
    check: str = ""  # "metadata" | "image" | "" (applicable)
    score: float | None = None  # the image check's score (None when it did not run)


def _says_chest(text: str) -> bool:
    t = text.upper()
    return any(w in t for w in CHEST_WORDS)


def metadata_check(meta: Metadata) -> str:
    """ "" when the metadata allow a chest radiograph (or say nothing), else the detail of why not."""
    modality = meta.modality.strip().upper()
    if modality and modality not in RADIOGRAPH_MODALITIES:
        what = MODALITY_NAMES.get(modality, f"a {modality} image")
        return f"the file says it is {what} (DICOM modality {modality}), not a chest radiograph"
    body = meta.body_part.strip()
    if body and not _says_chest(body):
        return f"the body part examined is {body.upper()[:32]}, not the chest"
    view = meta.view_position.strip().upper()
    if view and view in NON_CHEST_VIEWS:
        return f"the view position {view} is not a chest X-ray view"
    for desc in (meta.study_description, meta.series_description):
        d = desc.strip()
        # a description decides only when it names a body region and that region is not the chest
        if d and not _says_chest(d) and _names_other_region(d):
            return "the study description names another body region, not the chest"
    return ""


OTHER_REGIONS = (
    "HEAD",
    "BRAIN",
    "SKULL",
    "SPINE",
    "ABDOMEN",
    "ABD",
    "PELVIS",
    "KNEE",
    "HAND",
    "WRIST",
    "FOOT",
    "ANKLE",
    "HIP",
    "SHOULDER",
    "ELBOW",
    "BREAST",
    "MAMMO",
    "DENTAL",
    "SINUS",
    "CARDIAC",
    "HEART",
    "NECK",
    "FEMUR",
    "LEG",
    "ARM",
)


def _names_other_region(text: str) -> bool:
    words = {w for w in "".join(c if c.isalnum() else " " for c in text.upper()).split()}
    return any(r in words for r in OTHER_REGIONS)


def assess(image128: np.ndarray, meta: Metadata | None = None, *, detector=None) -> Verdict:
    """Metadata check, then the image check with `detector` (``ood.load_detector()`` if None)."""
    detail = metadata_check(meta or Metadata())
    if detail:
        return Verdict(False, f"{NOT_APPLICABLE} ({detail})", "metadata")
    if detector is None:
        from .ood import load_detector

        detector = load_detector()
    result = detector.check(image128)
    if not result.applicable:
        return Verdict(
            False,
            f"{NOT_APPLICABLE} (the image does not look like the chest X-rays the model was trained on)",
            "image",
            result.score,
        )
    return Verdict(True, "", "", result.score)
