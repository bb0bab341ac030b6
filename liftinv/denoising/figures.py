"""Figures of the denoising benchmark (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ..metrics import psnr  # noqa: E402


#: Colours of the horizontal reference lines, by the first word of the method name.
_REFERENCE_COLOURS = {"noisy": "gray", "TV": "tab:purple", "BM3D": "tab:red"}


def plot_psnr_vs_time(records: list[dict], path: str | Path) -> None:
    """Mean test PSNR against training seconds, one panel per noise level; classical
    methods as horizontal lines."""
    sigmas = sorted({r["sigma"] for r in records})
    fig, axes = plt.subplots(1, len(sigmas), figsize=(5.2 * len(sigmas), 3.8), squeeze=False)
    for ax, s in zip(axes[0], sigmas):
        for r in (r for r in records if r["sigma"] == s):
            if r.get("curve"):
                t, p = zip(*r["curve"])
                ax.plot(t, p, marker=".", label=r["method"])
            else:
                ax.axhline(r["psnr_mean"], ls="--", lw=1, color=_REFERENCE_COLOURS.get(r["method"].split()[0], "black"),
                           label=r["method"])
        ax.set(title=f"sigma = {s:g}/255", xlabel="training seconds", ylabel="mean test PSNR (dB)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_panels(clean: torch.Tensor, restored: dict[str, torch.Tensor | list], path: str | Path,
                title: str = "") -> None:
    """Clean image, then every method's output on it (first test image), with PSNR."""
    items = [("clean", clean)] + [(k, v[0] if isinstance(v, list) else v) for k, v in restored.items()]
    fig, axes = plt.subplots(1, len(items), figsize=(2.6 * len(items), 2.9))
    for ax, (name, img) in zip(axes, items):
        show = img.clamp(0, 1).permute(1, 2, 0).squeeze(-1).numpy()
        ax.imshow(show, cmap="gray" if show.ndim == 2 else None, vmin=0, vmax=1)
        label = name if name == "clean" else f"{name}\n{float(psnr(img, clean)):.2f} dB"
        ax.set_title(label, fontsize=7)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
