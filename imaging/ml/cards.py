"""Model cards (Markdown) rendered from the machine-readable ``<model>.json``."""

from __future__ import annotations

import json
from pathlib import Path

from .artifacts import ARTIFACT_DIR

PREPROCESSING = (
    "Every image follows the scan pipeline's route: grayscale → `cv2.resize` to 128×128 with "
    "`INTER_AREA` → values in [0, 1]; the model then downsamples 128×128 → 28×28 with `INTER_AREA` "
    "(implemented as the exact separable area-weight matrix, equal to `cv2.resize` to 1e-6). "
    "The 28×28 MedMNIST training images are *upsampled* through that same route (28→128→28), so "
    "training and inference see identical inputs. Other sizes are resized with INTER_AREA; "
    "uint8/uint16 are scaled by their range; NaN/inf, floats outside [0, 1], bool/complex, wrong "
    "rank or images under 8×8 raise `InputError`."
)

LIMITS = (
    "**Research software, not a medical device.** Not validated for clinical use; must not be used "
    "to make or support diagnostic or treatment decisions. Trained on 28×28 pediatric chest X-rays "
    "(Guangzhou Women and Children's Medical Center, via Kermany et al. 2018 / MedMNIST v2) — a "
    "single source, ages 1–5; performance on adults, other hospitals, other projections (lateral), "
    "other devices or higher resolutions is unknown. Validation scores overstate test scores on "
    "this dataset (the official test split is differently distributed; a PCA+SVM baseline drops "
    "from ≈0.99 validation AUC to ≈0.95 test AUC), so treat the validation numbers below as an "
    "upper bound. The training split here is only ~10% normal (388 of 3,882)."
)

INTENDED_USE = (
    "Demonstration of an auditable diagnosis step in QMedChain: a suggested label with a "
    "probability, recorded with the model id and artifact SHA-256, for a clinician to review."
)


def _fmt(m: dict, key: str) -> str:
    v = m.get(key)
    ci = m.get("ci95", {}).get(key)
    if v is None:
        return "–"
    return f"{v:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else f"{v:.4f}"


def _comparison(card: dict, kind: str, directory: Path) -> str:
    other_kind = "qcnn" if kind == "classical" else "classical"
    other_path = directory / f"{other_kind}.json"
    if not other_path.exists():
        return "_The other model has not been trained yet._\n"
    other = json.loads(other_path.read_text())
    rows = []
    for c in sorted([card, other], key=lambda c: c["name"]):
        v = c.get("validation", {})
        rows.append(
            f"| {c['name']} | {_fmt(v, 'auc')} | {_fmt(v, 'acc')} | {_fmt(v, 'sensitivity')} | "
            f"{_fmt(v, 'specificity')} | {c.get('training_seconds')} s |"
        )
    text = (
        "Same split (official validation, n = 524), same preprocessing route, thresholds chosen by "
        "the same rule.\n\n| model | AUC [95% CI] | ACC | sensitivity | specificity | training |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
    )
    text += (
        "Honest reading: the classical model (2,080 hand-crafted features, RBF SVM with ~2k "
        "support vectors) is clearly stronger and faster than the QCNN. The QCNN sees only 8 "
        "numbers per image (a PCA reduction fitted classically) and has a few dozen trainable "
        "circuit parameters; most of its discriminative power comes from that classical PCA "
        "reduction, and a plain logistic regression on the same 8 PCA numbers is reported in the "
        "QCNN card as a baseline. There is no quantum advantage here: the circuit is simulated "
        "exactly on a classical computer.\n"
    )
    q = next((c for c in (card, other) if c.get("quantum")), None)
    if q:
        base = q["quantum"].get("classical_baseline_same_8_inputs_val_auc")
        text += (
            f"\nOn the same 8 angle inputs a class-balanced logistic regression reaches validation AUC "
            f"{base:.4f} versus the QCNN's {q['validation']['auc']:.4f}: the 24-parameter circuit does not beat a "
            "linear classifier on its own inputs.\n"
        )
    return text


def render_card(card: dict, kind: str, directory: Path | None = None) -> str:
    directory = Path(directory or ARTIFACT_DIR)
    v = card.get("validation", {})
    hp = json.dumps(card.get("hyper_parameters", {}), indent=2, sort_keys=True)
    lines = [
        f"# Model card — {card['model_id']}",
        "",
        f"- **model id**: `{card['model_id']}`  **version**: {card['version']}",
        f"- **artifact**: `{kind}.npz`  **SHA-256**: `{card.get('sha256', '{SHA256}')}`",
        f"- **task**: {card['task']}",
        f"- **decision threshold** (on P(pneumonia)): {card['threshold']:.4f}",
        f"- **seed**: {card['seed']}  **training time**: {card['training_seconds']} s (one core)",
        "",
        "## Intended use",
        "",
        INTENDED_USE,
        "",
        "## Limits",
        "",
        LIMITS,
        "",
        "## Data",
        "",
        "PneumoniaMNIST (MedMNIST v2, Yang et al., Scientific Data 2023, CC BY 4.0), file "
        f"`{card['training_data']['file']}`: train {card['training_data']['train']}, "
        f"validation {card['training_data']['val']}. "
        + (
            "Hyper-parameters by cross-validation on train; "
            if card.get("cv")
            else "All parameters (PCA, circuit, head) fitted on train only; "
        )
        + "validation used only for the decision threshold and the metrics below.",
        "",
        "## Preprocessing",
        "",
        PREPROCESSING,
        "",
        "## Features, model and hyper-parameters",
        "",
        "```json",
        hp,
        "```",
        "",
    ]
    if card.get("quantum"):
        lines += [
            "## What is quantum",
            "",
            "```json",
            json.dumps(card["quantum"], indent=2, sort_keys=True),
            "```",
            "",
        ]
    if card.get("cv"):
        lines += ["## Cross-validation on train", "", "```json", json.dumps(card["cv"], indent=2), "```", ""]
    lines += [
        f"## Validation metrics (official validation split, n = {v.get('n', '?')})",
        "",
        "95% percentile bootstrap intervals (2,000 resamples of the 524 images).",
        "",
        "| metric | value [95% CI] |",
        "|---|---|",
        *(f"| {k} | {_fmt(v, k)} |" for k in ("auc", "acc", "sensitivity", "specificity")),
        "",
        f"At threshold 0.5: {json.dumps(v.get('at_threshold_0.5', {}))}",
        "",
        "Reproduce: `python manage.py diagnose evaluate --data PATH.npz --split val --model "
        f"{kind} --json` (or `python -m imaging.ml evaluate ...`).",
        "",
        "## Comparison QCNN vs classical",
        "",
        _comparison(card, kind, directory),
    ]
    return "\n".join(lines)


def rerender_all(directory: Path | None = None) -> None:
    """Re-write every ``<model>.md`` from its json (e.g. after the other model is retrained)."""
    directory = Path(directory or ARTIFACT_DIR)
    for p in sorted(directory.glob("*.json")):
        card = json.loads(p.read_text())
        (directory / f"{p.stem}.md").write_text(render_card(card, p.stem, directory))
