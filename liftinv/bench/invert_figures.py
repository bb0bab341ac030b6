"""Figures of the inversion benchmark (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

import numpy as np

from ..restoration.report import pyplot as _plt
from ..restoration.report import save_figure


def _array(image) -> np.ndarray:
    """A tensor (any device) or an array, as a NumPy array for matplotlib."""
    return image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)


def plot_perceptron(per: dict, path) -> None:
    """Log-log plot of the Bregman (TV) error and relative l2 error against delta."""
    plt = _plt()
    recs = per["records"]
    d = [r["delta"] for r in recs]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].loglog(d, [max(r["bregman_error"], 1e-12) for r in recs], "o", label="D_TV(u+, u_alpha)")
    dmin, dmax = min(d), max(d)
    ref = max(r["bregman_error"] for r in recs if r["delta"] == dmax)
    ax[0].loglog([dmin, dmax], [ref * dmin / dmax, ref], "k--", label="slope 1 (theory)")
    ax[0].set_title(f"fitted slope {per['slope_bregman']:.2f}")
    ax[0].set_xlabel("delta"), ax[0].legend()
    ax[1].loglog(d, [r["rel_l2_error"] for r in recs], "s", color="C1")
    ax[1].set_title(f"relative l2 error, slope {per['slope_l2']:.2f}")
    ax[1].set_xlabel("delta")
    save_figure(fig, path, bbox_inches="tight")


def plot_ae_panels(ae: dict, path) -> None:
    plt = _plt()
    panels = ae["panels"]
    levels = ae["settings"]["levels"]
    labels = [m["label"] for m in ae["settings"]["methods"]]
    fig, ax = plt.subplots(len(levels), len(labels) + 1, figsize=(2.6 * (len(labels) + 1), 2.6 * len(levels)),
                           squeeze=False)  # one noise level: still a 2-d grid of axes
    for i, level in enumerate(levels):
        ax[i, 0].imshow(_array(panels["truth"][0]), cmap="gray", vmin=0, vmax=1)
        ax[i, 0].set_title("truth" if i == 0 else "")
        ax[i, 0].set_ylabel(f"noise {level:g}")
        for j, lab in enumerate(labels):
            ax[i, j + 1].imshow(_array(panels[(level, lab)][0]), cmap="gray", vmin=0, vmax=1)
            ax[i, j + 1].set_title(lab, fontsize=8)
    for a in ax.flat:
        a.set_xticks([]), a.set_yticks([])
    save_figure(fig, path, bbox_inches="tight")


def plot_psnr_curves(ae: dict, path) -> None:
    """Tile-mean PSNR against iteration, first image, every noise level and method."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    first = ae["records"][0]["image"]
    styles = {m["label"]: ls for m, ls in zip(ae["settings"]["methods"], ("-", "--", ":", "-."))}
    levels = ae["settings"]["levels"]
    for r in (x for x in ae["records"] if x["image"] == first):
        it, p = zip(*[c for c in r["psnr_curve"] if c[1] is not None])
        ax.plot(it, p, styles.get(r["method"], "-"), color=f"C{levels.index(r['level'])}",
                label=f"{r['method']}, noise {r['level']:g}")
    ax.set_xlabel("iteration"), ax.set_ylabel("tile-mean PSNR (dB)"), ax.legend(fontsize=6)
    save_figure(fig, path, bbox_inches="tight")
