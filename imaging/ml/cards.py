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


MODEL_KINDS = ("classical", "qcnn", "cnn", "ensemble")


def _comparison(card: dict, kind: str, directory: Path) -> str:
    cards = {kind: card}
    for other_kind in MODEL_KINDS:
        p = directory / f"{other_kind}.json"
        if other_kind != kind and p.exists():
            cards[other_kind] = json.loads(p.read_text())
    if len(cards) == 1:
        return "_The other models have not been trained yet._\n"
    rows = []
    for name in MODEL_KINDS:
        c = cards.get(name)
        if c is None:
            continue
        v = c.get("validation", {})
        held = "out-of-fold" if "source" in v else "held out (fitted on train)"
        rows.append(
            f"| {name} | {_fmt(v, 'auc')} | {_fmt(v, 'acc')} | {_fmt(v, 'sensitivity')} | "
            f"{_fmt(v, 'specificity')} | {held} | {c.get('training_seconds')} s |"
        )
    text = (
        "Same images (official validation, n = 524), same preprocessing route. Classical and QCNN were "
        "fitted on train only; the CNN and the ensemble on train + val, so their validation figures are "
        "their out-of-fold predictions (each image scored by a model that did not see it).\n\n"
        "| model | AUC [95% CI] | ACC | sensitivity | specificity | validation figures | training |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
    )
    if "qcnn" in cards and kind in ("classical", "qcnn"):
        text += (
            "Honest reading: the classical model (2,080 hand-crafted features, RBF SVM with ~2k "
            "support vectors) is clearly stronger and faster than the QCNN. The QCNN sees only 8 "
            "numbers per image (a PCA reduction fitted classically) and has a few dozen trainable "
            "circuit parameters; most of its discriminative power comes from that classical PCA "
            "reduction, and a plain logistic regression on the same PCA numbers is reported in the "
            "QCNN card as a baseline. There is no quantum advantage here: the circuit is simulated "
            "exactly on a classical computer.\n"
        )
        q = cards["qcnn"]
        base = (q.get("quantum") or {}).get("classical_baseline_same_8_inputs_val_auc")
        if isinstance(base, int | float):
            text += (
                f"\nOn the same inputs a class-balanced logistic regression reaches validation AUC "
                f"{base:.4f} versus the QCNN's {q['validation']['auc']:.4f}.\n"
            )
    return text


def _in_words(card: dict) -> str:
    v = card.get("validation", {})
    se, sp = v.get("sensitivity"), v.get("specificity")
    if not isinstance(se, int | float) or not isinstance(sp, int | float):
        return ""
    return (
        f"At its threshold the model found **{se * 100:.0f} of every 100 pneumonia images** "
        f"(sensitivity {se:.3f}) and called **{sp * 100:.0f} of every 100 normal images normal** "
        f"(specificity {sp:.3f}) on validation images it had not been fitted on."
    )


def _cv_section(card: dict) -> list[str]:
    cv = card.get("cv_oof")
    if not cv:
        return []
    keys = ("auc", "acc", "sensitivity", "specificity")
    lines = [
        "## Cross-validation (out-of-fold, at the decision threshold)",
        "",
        cv.get("scheme", ""),
        "",
        "| fold | n | AUC | ACC | sensitivity | specificity |",
        "|---|---|---|---|---|---|",
    ]
    for r in cv["per_fold"]:
        lines.append(f"| {r['fold']} | {r['n']} | " + " | ".join(f"{r[k]:.4f}" for k in keys) + " |")
    lines.append(
        "| **mean ± sd** | | " + " | ".join(f"{cv['mean'][k]:.4f} ± {cv['sd'][k]:.4f}" for k in keys) + " |"
    )
    lines.append(
        f"| pooled [95% CI] | {cv['pooled']['n']} | " + " | ".join(_fmt(cv["pooled"], k) for k in keys) + " |"
    )
    lines.append("")
    if cv.get("chosen_epochs"):
        lines += [
            f"Epochs chosen by the best mean fold AUC: **{cv['chosen_epochs']}**; mean fold AUC by epoch: "
            f"{cv.get('mean_auc_by_epoch')}.",
            "",
        ]
    comp = card.get("cv_comparison")
    if comp:
        lines += [
            "### All models on the same out-of-fold scores",
            "",
            "| model | threshold | AUC mean ± sd | ACC mean ± sd | pooled AUC | pooled balanced acc. | val AUC | val ACC |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in comp.items():
            lines.append(
                f"| {name} | {r['threshold']:.3f} | {r['mean']['auc']:.4f} ± {r['sd']['auc']:.4f} | "
                f"{r['mean']['acc']:.4f} ± {r['sd']['acc']:.4f} | {r['pooled']['auc']:.4f} | "
                f"{r['balanced_accuracy_pooled']:.4f} | {r['val']['auc']:.4f} | {r['val']['acc']:.4f} |"
            )
        lines.append("")
    return lines


def _calibration_section(card: dict) -> list[str]:
    c = card.get("calibration")
    if not c:
        return []
    b, a = c["ece_before"], c["ece_after"]
    lines = [
        "## Calibration",
        "",
        f"Method: {c['method']}. The probability shown is the calibrated one.",
        "",
        f"Expected calibration error ({c['bins']} equal-width bins; {c['data']}):",
        "",
        "| | ECE before | ECE after |",
        "|---|---|---|",
        f"| out-of-fold, class-balanced | {b['oof_balanced']:.4f} | {a['oof_balanced']:.4f} |",
        f"| validation images, as sampled | {b['val']:.4f} | {a['val']:.4f} |",
        "",
    ]
    if "ece_deployed_model_on_val" in c:
        lines += [
            f"ECE of this deployed artifact on the validation split: {c['ece_deployed_model_on_val']:.4f}.",
            "",
        ]
    lines += [f"![reliability diagram]({c['reliability_svg']})", ""]
    return lines


def _speed_section(card: dict) -> list[str]:
    sp = card.get("speed")
    if not sp:
        return []
    return [
        "## Inference speed",
        "",
        f"One thread: {sp['ms_per_image_batch']} ms per image in a batch, {sp['ms_single_p50']} ms for a single "
        f"image (p50). {sp.get('note', '')}",
        "",
    ]


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
        "## Performance in words",
        "",
        _in_words(card),
        "",
        "## Data",
        "",
        "PneumoniaMNIST (MedMNIST v2, Yang et al., Scientific Data 2023, CC BY 4.0), file "
        f"`{card['training_data']['file']}`: train {card['training_data']['train']}, "
        f"validation {card['training_data']['val']}. "
        + (
            "Cross-validation on train + val chose the settings, the calibration and the threshold "
            "(out-of-fold), then a final fit on train + val; the validation metrics below are out-of-fold."
            if card["name"] in ("cnn", "ensemble")
            else (
                "Hyper-parameters by cross-validation on train; "
                if card.get("cv")
                else "All parameters (PCA, circuit, head) fitted on train only; "
            )
            + "validation used only for the decision threshold and the metrics below."
        ),
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
    if card.get("cv") and card["name"] not in ("cnn", "ensemble"):
        lines += ["## Cross-validation on train", "", "```json", json.dumps(card["cv"], indent=2), "```", ""]
    lines += _cv_section(card)
    lines += [
        f"## Validation metrics (official validation split, n = {v.get('n', '?')})",
        "",
        "95% percentile bootstrap intervals (2,000 resamples of the 524 images)."
        + (f" Source: {v['source']}." if v.get("source") else ""),
        "",
        "| metric | value [95% CI] |",
        "|---|---|",
        *(f"| {k} | {_fmt(v, k)} |" for k in ("auc", "acc", "sensitivity", "specificity")),
        "",
        *(
            [f"At threshold 0.5: {json.dumps(v.get('at_threshold_0.5'))}", ""]
            if v.get("at_threshold_0.5")
            else []
        ),
        *(
            [
                "The final model on the validation images (in-sample: it was fitted on them): "
                + json.dumps(
                    {
                        k: round(x, 4)
                        for k, x in card["validation_final_model_in_sample"].items()
                        if isinstance(x, float)
                    }
                ),
                "",
            ]
            if card.get("validation_final_model_in_sample")
            else []
        ),
        "Reproduce: `python manage.py diagnose evaluate --data PATH.npz --split val --model "
        f"{kind} --json` (or `python -m imaging.ml evaluate ...`).",
        "",
        *_calibration_section(card),
        *_speed_section(card),
        "## Comparison of the models",
        "",
        _comparison(card, kind, directory),
    ]
    return "\n".join(lines)


def rerender_all(directory: Path | None = None) -> None:
    """Re-write every ``<model>.md`` from its json (e.g. after the other model is retrained)."""
    directory = Path(directory or ARTIFACT_DIR)
    for kind in MODEL_KINDS:  # not every json there is a model card (ood.json is the gate's)
        p = directory / f"{kind}.json"
        if p.exists():
            card = json.loads(p.read_text())
            (directory / f"{kind}.md").write_text(render_card(card, kind, directory))
