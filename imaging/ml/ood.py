"""The image half of the applicability gate: an out-of-distribution (OOD) detector on the
classical model's own features (pure: no Django).

Features of one image (on the 28 × 28 model grid, reached by the pipeline's one route,
``contract.images_to_model_grid``):

* the classical model's **PCA space** (128 values): its 2,080 features (standardised pixels
  + HOG, ``features.features``) through its exported scaler + PCA projection (``proj_w``,
  ``proj_b`` of ``classical.npz``; copied into ``ood.npz`` so the detector does not change
  when a model is retrained);
* 14 **image statistics**: mean, standard deviation, 5/50/95th percentiles, top-bottom and
  left-right brightness differences, centre and sides against the mean, horizontal and
  vertical lag-1 autocorrelation and the mean absolute Laplacian of the standardised image
  (noise and flat images sit near the centre of the PCA space, but not here).

Each feature is standardised on the training set; the score is the squared **Mahalanobis
distance** to the training distribution under a Ledoit–Wolf shrunk covariance. The
threshold is the ``keep`` quantile (99.5 %) of the **validation** scores: at least 99 % of
in-distribution validation images pass, with a margin because the test split is harder.

``python -m imaging.ml.ood evaluate`` prints the stored gate numbers; training, which needs
the pipeline's DICOM decoder for the OOD set, is ``python manage.py ood_gate train``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import contract
from .artifacts import read_artifact, write_artifact
from .features import features

NAME = "ood"
VERSION = "1.0.0"
DETECTOR_ID = f"cxr-applicability-mahalanobis-{VERSION}"
DEFAULT_SEED = 20240611
KEEP = 0.995  # validation quantile kept (target: >= 99 % of chest X-rays applicable)
AUG_COPIES = 1
N_STATS = 14


def image_stats(grid28: np.ndarray) -> np.ndarray:
    """(n, 28, 28) float in [0, 1] → (n, 14) float64 image statistics (module docstring)."""
    g = np.asarray(grid28, dtype=np.float64)
    n = g.shape[0]
    x = g.reshape(n, -1)
    m = x.mean(1)
    s = x.std(1)
    q = np.percentile(x, [5, 50, 95], axis=1).T
    top, bottom = g[:, :7].mean((1, 2)), g[:, -7:].mean((1, 2))
    left, right = g[:, :, :7].mean((1, 2)), g[:, :, -7:].mean((1, 2))
    centre = g[:, 10:18, 10:18].mean((1, 2))
    z = (g - m[:, None, None]) / (s[:, None, None] + 1e-3)
    ac_h = (z[:, :, 1:] * z[:, :, :-1]).mean((1, 2))
    ac_v = (z[:, 1:] * z[:, :-1]).mean((1, 2))
    lap = np.abs(
        4 * z[:, 1:-1, 1:-1] - z[:, :-2, 1:-1] - z[:, 2:, 1:-1] - z[:, 1:-1, :-2] - z[:, 1:-1, 2:]
    ).mean((1, 2))
    return np.column_stack(
        [m, s, q, top - bottom, left - right, centre - m, (left + right) / 2 - m, ac_h, ac_v, lap]
    )


def raw_features(grid28: np.ndarray, proj_w: np.ndarray, proj_b: np.ndarray) -> np.ndarray:
    """(n, 28, 28) → (n, 128 + 14): the classical PCA coordinates and the image statistics."""
    z = features(np.asarray(grid28, dtype=np.float32)) @ proj_w + proj_b
    return np.hstack([z.astype(np.float64), image_stats(grid28)])


@dataclass(frozen=True)
class GateResult:
    applicable: bool
    score: float
    threshold: float


class OODDetector:
    kind = NAME

    def __init__(self, arrays: dict, card: dict, sha256: str):
        self.card = card
        self.sha256 = sha256
        self.detector_id = card["detector_id"]
        self.threshold = float(card["threshold"])
        self._w = np.ascontiguousarray(arrays["proj_w"], dtype=np.float32)
        self._b = arrays["proj_b"].astype(np.float32)
        self._mu = arrays["mean"].astype(np.float64)
        self._sd = arrays["scale"].astype(np.float64)
        self._loc = arrays["location"].astype(np.float64)
        self._prec = arrays["precision"].astype(np.float64)

    def scores_grid(self, grid28: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances of a batch on the 28 × 28 grid."""
        f = (raw_features(grid28, self._w, self._b) - self._mu) / self._sd
        d = f - self._loc
        return np.einsum("ij,jk,ik->i", d, self._prec, d)

    def scores(self, images) -> np.ndarray:
        """Scores of 128 × 128 pipeline images (a (n, 128, 128) array or a list)."""
        return self.scores_grid(contract.images_to_model_grid(images))

    def check(self, image128: np.ndarray) -> GateResult:
        grid = contract.to_model_grid(contract.check_image(image128))[None]
        score = float(self.scores_grid(grid)[0])
        return GateResult(bool(score <= self.threshold), round(score, 3), self.threshold)


def load_detector(directory: Path | None = None) -> OODDetector:
    """The committed detector; the SHA-256 of ``ood.npz`` is verified against ``ood.json``."""
    arrays, card, digest = read_artifact(NAME, directory)
    return OODDetector(arrays, card, digest)


# -- training and evaluation -------------------------------------------------------------


def fit(train_grid: np.ndarray, classical_arrays: dict) -> dict:
    """Fit the feature scaling and the shrunk covariance on (augmented) training grids."""
    from sklearn.covariance import LedoitWolf

    w = np.ascontiguousarray(classical_arrays["proj_w"], dtype=np.float32)
    b = classical_arrays["proj_b"].astype(np.float32)
    raw = raw_features(train_grid, w, b)
    mu, sd = raw.mean(0), raw.std(0) + 1e-6
    lw = LedoitWolf().fit((raw - mu) / sd)
    return {
        "proj_w": w,
        "proj_b": b,
        "mean": mu,
        "scale": sd,
        "location": lw.location_,
        "precision": lw.precision_,
        "shrinkage": np.array(lw.shrinkage_),
    }


def threshold_for(val_scores: np.ndarray, keep: float = KEEP) -> float:
    """The smallest score threshold that keeps at least `keep` of the validation images."""
    s = np.sort(np.asarray(val_scores, dtype=np.float64))
    k = int(np.ceil(keep * s.size)) - 1
    return float(s[min(max(k, 0), s.size - 1)])


def auroc(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    """P(OOD score > ID score) + 0.5 P(equal): the AUROC of the score as an OOD detector."""
    a = np.asarray(id_scores, dtype=np.float64)
    b = np.asarray(ood_scores, dtype=np.float64)
    allv = np.concatenate([a, b])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(allv.size)
    sv = allv[order]
    # average ranks over ties
    i = 0
    while i < sv.size:
        j = i
        while j + 1 < sv.size and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    rb = ranks[a.size :].sum()
    return float((rb - b.size * (b.size + 1) / 2.0) / (a.size * b.size))


def evaluate(detector: OODDetector, val_grid: np.ndarray, ood_items: list) -> dict:
    """Gate numbers: AUROC (ID validation vs the OOD set), ID pass rate, OOD refusal rate
    overall and per category (``ood_set.OODImage`` items)."""
    sv = detector.scores_grid(val_grid)
    so = detector.scores(np.stack([o.image for o in ood_items]).astype(np.float32))
    cats = np.array([o.category for o in ood_items])
    per = {}
    for c in sorted(set(cats.tolist())):
        sel = so[cats == c]
        per[c] = {"n": int(sel.size), "refused": int((sel > detector.threshold).sum())}
        per[c]["refusal_rate"] = round(per[c]["refused"] / per[c]["n"], 4)
    return {
        "auroc": round(auroc(sv, so), 5),
        "id_validation": {
            "n": int(sv.size),
            "applicable": int((sv <= detector.threshold).sum()),
            "pass_rate": round(float((sv <= detector.threshold).mean()), 4),
        },
        "ood": {
            "n": int(so.size),
            "refused": int((so > detector.threshold).sum()),
            "refusal_rate": round(float((so > detector.threshold).mean()), 4),
            "by_category": per,
            "passed": sorted(o.name for o, s in zip(ood_items, so, strict=True) if s <= detector.threshold),
        },
    }


def render_card(card: dict) -> str:
    ev = card["evaluation"]
    lines = [
        f"# Applicability gate — {card['detector_id']}",
        "",
        "Refuses images the pneumonia model was not made for (anything but a chest X-ray).",
        "",
        f"- Artifact: `ood.npz`, SHA-256 `{{SHA256}}`; seed {card['seed']}.",
        f"- Method: {card['method']}",
        f"- Threshold: {card['threshold']:.3f} (squared Mahalanobis distance), the {card['keep']:.1%} "
        "quantile of the validation scores.",
        f"- AUROC, in-distribution validation vs the OOD set: **{ev['auroc']:.4f}**",
        f"- Chest X-rays (validation) applicable: **{ev['id_validation']['pass_rate']:.2%}** "
        f"({ev['id_validation']['applicable']} of {ev['id_validation']['n']})",
        f"- Out-of-distribution images refused: **{ev['ood']['refusal_rate']:.2%}** "
        f"({ev['ood']['refused']} of {ev['ood']['n']})",
        "",
        "| OOD category | n | refused |",
        "|---|---:|---:|",
    ]
    for c, v in ev["ood"]["by_category"].items():
        lines.append(f"| {c} | {v['n']} | {v['refusal_rate']:.1%} |")
    lines += ["", "OOD set: " + card["ood_set"], ""]
    return "\n".join(lines)


def train_and_save(
    path, *, decode=None, seed: int = DEFAULT_SEED, directory: Path | None = None, log=print
) -> dict:
    """Fit on train (+ seeded augmented copies), threshold on validation, evaluate on the OOD
    set (`ood_set.build`, with the pipeline's DICOM `decode`), write ood.npz / .json / .md."""
    from threadpoolctl import threadpool_limits

    from . import ood_set
    from .augment import augment
    from .data import load_split

    t0 = time.time()
    tr, va = load_split(path, "train"), load_split(path, "val")
    classical_arrays, classical_card, classical_sha = read_artifact("classical")
    with threadpool_limits(limits=1):
        grid = contract.medmnist_to_model_grid(tr.images)
        aug, _src = augment(grid, AUG_COPIES, seed)
        arrays = fit(aug, classical_arrays)
        val_grid = contract.medmnist_to_model_grid(va.images)
        tmp = OODDetector(arrays, {"detector_id": DETECTOR_ID, "threshold": 0.0}, "")
        threshold = threshold_for(tmp.scores_grid(val_grid))
        items = ood_set.build(va.images, decode=decode)
        det = OODDetector(arrays, {"detector_id": DETECTOR_ID, "threshold": threshold}, "")
        ev = evaluate(det, val_grid, items)
    card = {
        "name": NAME,
        "detector_id": DETECTOR_ID,
        "version": VERSION,
        "seed": seed,
        "keep": KEEP,
        "threshold": threshold,
        "method": "squared Mahalanobis distance (Ledoit-Wolf shrinkage "
        f"{float(arrays['shrinkage']):.4f}) of standardised features: the classical model's "
        f"128 PCA coordinates + {N_STATS} image statistics, fitted on the train split "
        f"({tr.labels.size} images + {AUG_COPIES} augmented copy each)",
        "features_from": {"model_id": classical_card["model_id"], "sha256": classical_sha},
        "ood_set": "pydicom bundled test files with pixels (non-CR/DX), scikit-image samples, "
        "uniform/Gaussian/salt-and-pepper/low-frequency noise, flat images and ramps, validation "
        "chest X-rays rotated 90/180/270 degrees and inverted (100 each)",
        "targets": {"id_pass_rate": 0.99, "ood_refusal_rate": 0.99},  # nosec B105 - rates, not a password
        "evaluation": ev,
        "training_seconds": round(time.time() - t0, 1),
    }
    digest = write_artifact(NAME, arrays, card, render_card(card), directory)
    log(
        f"ood: wrote ood.npz sha256={digest} auroc={ev['auroc']} id_pass={ev['id_validation']['pass_rate']} "
        f"ood_refused={ev['ood']['refusal_rate']}"
    )
    return dict(card, sha256=digest)


def main(argv: list[str] | None = None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["evaluate"]:
        print("usage: python -m imaging.ml.ood evaluate   (train: python manage.py ood_gate train)")
        return 2
    det = load_detector()
    print(json.dumps({"sha256": det.sha256, **det.card["evaluation"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
