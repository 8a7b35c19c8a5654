"""matplotlib figures for the CLI (Agg backend, no display). Every title says 'simulated'."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig: Figure, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_bb84(res: dict[str, Any], path: str) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    ax[0].bar(["estimated", "true", "ideal"], [res["qber"], res["qber_true"], res["qber_ideal"]])
    ax[0].axhline(res["abort_threshold"], color="red", ls="--", label="abort threshold 11%")
    ax[0].set_ylabel("QBER")
    ax[0].legend()
    ax[0].set_title("BB84 QBER (simulated)")
    labels = ["qubits", "sifted", "sample", "leaked", "key"]
    vals = [res["qubits"], res["sifted"], res["sample_bits"], res["leaked_bits"], res["key_bits"]]
    ax[1].bar(labels, vals)
    ax[1].set_title("aborted" if res["aborted"] else f"final key {res['key_bits']} bits")
    _save(fig, path)


def plot_qhash(res: dict[str, Any], path: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    w = np.arange(4)
    meas = [res["omega"][str(i)] for i in range(4)]
    ideal = [res["ideal"]["omega"][str(i)] for i in range(4)]
    ax.bar(w - 0.2, meas, 0.4, label="measured")
    ax.bar(w + 0.2, ideal, 0.4, label="ideal binomial(32, 1/256)")
    ax.set_yscale("log")
    ax.set_xlabel("number of equal bytes ω")
    ax.set_title(f"quantum-walk hash (simulated): P={res['P']:.2f}%")
    ax.legend()
    _save(fig, path)


def plot_bellauth(res: dict[str, Any], path: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    k = np.arange(1, max(2, res["checked"]) + 1)
    ax.plot(k, 1 - 0.75**k, label="theory 1-(3/4)^K (intercept / entangle)")
    ax.scatter(
        [res["checked"]], [res["detection_rate"]], color="red", zorder=3, label="measured detection rate"
    )
    ax.set_xlabel("checked pairs K")
    ax.set_ylabel("P(detect)")
    ax.set_title(f"Bell-state authentication (simulated), attack={res['attack']}")
    ax.legend()
    _save(fig, path)


def plot_ghost(img: np.ndarray, recon: np.ndarray, res: dict[str, Any], path: str) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(6, 3.2))
    ax[0].imshow(img, cmap="gray", vmin=0, vmax=1)
    ax[0].set_title("object")
    ax[1].imshow(recon, cmap="gray", vmin=0, vmax=1)
    ax[1].set_title(f"{res['method']} r={res['ratio']:.2f} PSNR={res['psnr']:.1f}")
    for a in ax:
        a.axis("off")
    fig.suptitle("ghost imaging (simulated)")
    _save(fig, path)


def plot_ghost_sweep(res: dict[str, Any], path: str) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    ratios = [row["ratio"] for row in res["table"]]
    for m in res["methods"]:
        ax[0].plot(ratios, [row[m]["psnr"] for row in res["table"]], marker="o", label=m)
        ax[1].plot(ratios, [row[m]["ssim"] for row in res["table"]], marker="o", label=m)
    ax[0].set_ylabel("PSNR (dB)")
    ax[1].set_ylabel("SSIM")
    for a in ax:
        a.set_xlabel("sampling ratio M/N")
        a.legend()
    fig.suptitle(f"ghost imaging {res['size']}x{res['size']} (simulated)")
    _save(fig, path)


def plot_neqr(plain: np.ndarray, cipher: np.ndarray, res: dict[str, Any], path: str) -> None:
    fig, ax = plt.subplots(2, 2, figsize=(8, 7))
    ax[0, 0].imshow(plain, cmap="gray", vmin=0, vmax=255)
    ax[0, 0].set_title("plain")
    ax[0, 1].imshow(cipher, cmap="gray", vmin=0, vmax=255)
    ax[0, 1].set_title("cipher (NEQR, simulated)")
    ax[1, 0].hist(np.asarray(plain).ravel(), bins=256, range=(0, 256))
    ax[1, 0].set_title("plain histogram")
    ax[1, 1].hist(np.asarray(cipher).ravel(), bins=256, range=(0, 256))
    ax[1, 1].set_title(f"cipher histogram, H={res['entropy']:.4f}")
    for a in ax[0]:
        a.axis("off")
    fig.suptitle(f"NPCR={res['npcr']:.3f}% UACI={res['uaci']:.3f}%")
    _save(fig, path)
