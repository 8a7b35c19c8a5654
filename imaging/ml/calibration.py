"""Probability calibration and its measurement (pure numpy).

* :func:`fit_temperature` / :func:`apply_temperature`: temperature scaling of a logit,
  ``p = sigmoid(logit / T)``, T fitted by (optionally class-balanced) negative log-likelihood
  on out-of-fold predictions. Monotonic, so AUC and the ranking are unchanged.
* :func:`ece`: expected calibration error, equal-width bins (15 by default), optional
  sample weights (class-balanced weights measure calibration for a 50/50 prior).
* :func:`reliability` and :func:`reliability_svg`: the reliability diagram as data and as a
  small self-contained SVG.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


def logit(p, eps: float = 1e-7):
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def balanced_weights(labels) -> np.ndarray:
    y = np.asarray(labels).astype(int).ravel()
    w = np.ones(y.size)
    for c in (0, 1):
        m = y == c
        if m.any():
            w[m] = y.size / (2.0 * m.sum())
    return w


def _nll(z, y, w):
    # -log sigmoid(z) for y=1, -log(1 - sigmoid(z)) for y=0, numerically stable
    s = np.where(y == 1, -z, z)
    return float(np.sum(w * (np.maximum(s, 0) + np.log1p(np.exp(-np.abs(s))))) / np.sum(w))


def fit_temperature(logits, labels, balanced: bool = True) -> float:
    """T > 0 minimising the NLL of sigmoid(logit / T) (golden-section search on log T)."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(int).ravel()
    w = balanced_weights(y) if balanced else np.ones(y.size)
    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _nll(z / np.exp(a), y, w), _nll(z / np.exp(b), y, w)
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _nll(z / np.exp(a), y, w)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _nll(z / np.exp(b), y, w)
    return float(np.exp((lo + hi) / 2))


def apply_temperature(logits, temperature: float) -> np.ndarray:
    return sigmoid(np.asarray(logits, dtype=np.float64) / float(temperature))


def reliability(probs, labels, n_bins: int = 15, weights=None) -> list[dict]:
    """Per equal-width bin: {lo, hi, n, weight, confidence (mean p), frequency (observed positive rate)}."""
    p = np.asarray(probs, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(float).ravel()
    w = np.ones(p.size) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=True), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = idx == b
        sw = float(w[m].sum())
        rows.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "n": int(m.sum()),
                "weight": sw,
                "confidence": float((w[m] * p[m]).sum() / sw) if sw > 0 else None,
                "frequency": float((w[m] * y[m]).sum() / sw) if sw > 0 else None,
            }
        )
    return rows


def ece(probs, labels, n_bins: int = 15, weights=None) -> float:
    """Expected calibration error: sum over bins of (bin weight share) × |frequency − confidence|."""
    rows = reliability(probs, labels, n_bins, weights)
    total = sum(r["weight"] for r in rows)
    if total <= 0:
        return float("nan")
    return float(
        sum(r["weight"] / total * abs(r["frequency"] - r["confidence"]) for r in rows if r["weight"] > 0)
    )


def reliability_svg(series: dict[str, list[dict]], title: str = "Reliability diagram") -> str:
    """A small SVG: the diagonal and, per named series, observed frequency vs mean confidence."""
    size, pad = 320, 40
    inner = size - 2 * pad
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]

    def xy(px, py):
        return pad + px * inner, size - pad - py * inner

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 20 * len(series)}" '
        f'viewBox="0 0 {size} {size + 20 * len(series)}" font-family="sans-serif" font-size="11">',
        f"<title>{_esc(title)}</title>",
        f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="none" stroke="#444"/>',
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-dasharray="4 3"/>'.format(
            *xy(0, 0), *xy(1, 1)
        ),
        f'<text x="{size / 2}" y="{pad - 14}" text-anchor="middle" font-size="13">{_esc(title)}</text>',
        f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle">mean predicted P(pneumonia)</text>',
        f'<text x="12" y="{size / 2}" transform="rotate(-90 12 {size / 2})" text-anchor="middle">'
        "observed fraction pneumonia</text>",
    ]
    for t in (0.0, 0.5, 1.0):
        x, y0 = xy(t, 0)
        parts.append(f'<text x="{x:.1f}" y="{y0 + 14:.1f}" text-anchor="middle">{t:g}</text>')
        x0, y = xy(0, t)
        parts.append(f'<text x="{x0 - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>')
    for i, (name, rows) in enumerate(series.items()):
        c = colors[i % len(colors)]
        pts = [
            xy(r["confidence"], r["frequency"]) for r in rows if r["n"] > 0 and r["confidence"] is not None
        ]
        if pts:
            parts.append(
                f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="'
                + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                + '"/>'
            )
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{c}"/>' for x, y in pts]
        ly = size + 14 + 20 * i
        parts.append(f'<rect x="{pad}" y="{ly - 9}" width="10" height="10" fill="{c}"/>')
        parts.append(f'<text x="{pad + 16}" y="{ly}">{_esc(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _esc(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
