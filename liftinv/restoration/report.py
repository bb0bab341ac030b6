"""Reports of restoration runs and benchmarks: one metadata block, JSON + Markdown, figures.

Every report is a dictionary ``{"meta": run_metadata(...), ...}`` written by
:func:`write_report` as ``NAME.json`` and ``NAME.md`` (atomically); :func:`markdown_header` opens
every Markdown report with the command, the machine, the versions and the configuration, so a
table always says how it was made.  Figures are PNG files drawn with matplotlib's Agg backend.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import torch

from .. import __version__
from ..metrics import SSIM_CONVENTION, psnr
from ..utils.files import atomic_write, write_text_atomic


def run_metadata(device, command: str | None = None, **settings) -> dict:
    """Command, versions, device, threads and machine of this run, plus ``settings``."""
    return {"command": command or "liftinv " + " ".join(sys.argv[1:]), "liftinv": __version__,
            "torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(), "ssim": SSIM_CONVENTION, **settings}


def markdown_header(meta: dict, title: str | None = None) -> list[str]:
    """The opening lines of a Markdown report: title, command, machine and versions."""
    lines = [f"# {title}", ""] if title else []
    return lines + [f"Command: `{meta['command']}`  ",
                    f"Device: {meta['device']} ({meta['machine']}, {meta['threads']} threads), torch "
                    f"{meta['torch']}, liftinv {meta['liftinv']}.  "]


def write_report(out: str | Path, name: str, report: dict, markdown: str) -> Path:
    """Write ``report`` as ``out/NAME.json`` and ``markdown`` as ``out/NAME.md``; returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / f"{name}.json", json.dumps(report, indent=1, default=float))
    write_text_atomic(out / f"{name}.md", markdown)
    return out


def peak_memory_mb(device) -> float | None:
    """Peak allocated CUDA memory since the last reset (``None`` on the CPU)."""
    device = torch.device(device)
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 110, **kwargs) -> None:
    """Write ``fig`` to ``path`` atomically (the format from the suffix) and close it."""
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:] or "png", dpi=dpi, **kwargs))
    pyplot().close(fig)


#: Colours of the horizontal reference lines, by the first word of the method name.
_REFERENCE_COLOURS = {"noisy": "gray", "blurred": "gray", "TV": "tab:purple", "BM3D": "tab:red"}


def plot_psnr_vs_time(records: list[dict], path: str | Path, panel_key: str = "sigma",
                      panel_title: str = "sigma = {}/255") -> None:
    """Mean test PSNR against training seconds (records with a ``curve``), one panel per value
    of ``panel_key``; methods without a curve are horizontal lines."""
    plt = pyplot()
    panels = sorted({r[panel_key] for r in records})
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, value in zip(axes[0], panels):
        for r in (r for r in records if r[panel_key] == value):
            if r.get("curve"):
                t, p = zip(*r["curve"])
                ax.plot(t, p, marker=".", label=r["method"])
            else:
                ax.axhline(r["psnr_mean"], ls="--", lw=1, label=r["method"],
                           color=_REFERENCE_COLOURS.get(r["method"].split()[0], "black"))
        ax.set(title=panel_title.format(f"{value:g}" if isinstance(value, float) else value),
               xlabel="training seconds", ylabel="mean test PSNR (dB)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def plot_panels(clean: torch.Tensor, restored: dict[str, torch.Tensor | list], path: str | Path,
                title: str = "") -> None:
    """Clean image, then every method's output on it (the first image of a list), with PSNR."""
    plt = pyplot()
    items = [("clean", clean)] + [(k, v[0] if isinstance(v, list) else v) for k, v in restored.items()]
    fig, axes = plt.subplots(1, len(items), figsize=(2.6 * len(items), 2.9), squeeze=False)
    for ax, (name, img) in zip(axes[0], items):
        show = img.clamp(0, 1).permute(1, 2, 0).squeeze(-1).numpy()
        ax.imshow(show, cmap="gray" if show.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(name if name == "clean" else f"{name}\n{float(psnr(img, clean)):.2f} dB", fontsize=7)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
