"""``liftinv bench denoise``: trained and classical denoisers side by side.

In one process, on the same training patches and the same noisy test images
(noise drawn once from a fixed seed), for each noise level:

* the noisy input, TV (scikit-image, weight tuned on the *training* images) and
  BM3D (when the optional ``bm3d`` package is installed);
* the DFB-PNN trained by lifted Bregman BCD and by backprop (Adam), and
  deepinv's DnCNN trained by backprop, each for the same wall-clock budget.

Writes ``denoise.json`` (one record per method and noise level: settings,
seconds, iterations, peak memory, PSNR/SSIM per image and mean, the PSNR-vs-time
curve), ``denoise.md`` (the tables) and two figures: PSNR against training time,
and panels of clean, noisy and denoised test images.  It also times one lifted
step against one backprop step of the same network on the same batch.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from .. import __version__
from ..metrics import SSIM_CONVENTION
from .classical import bm3d_available, bm3d_denoise, tune_tv_weight, tv_denoise
from .evaluation import denoise_images, noisy_test_set, score
from .models import build_denoiser, default_arch, n_parameters
from .training import make_solver, train_denoiser, training_patches

#: (label, model, trainer) of the trained methods.
TRAINED = (("DFB-PNN, lifted Bregman BCD", "dfb", "lifted"),
           ("DFB-PNN, backprop (Adam)", "dfb", "backprop"),
           ("DnCNN (deepinv), backprop (Adam)", "dncnn", "backprop"))


def _peak_memory_mb(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


def median_step_seconds(solver, x: torch.Tensor, y: torch.Tensor, repeats: int = 10, warmup: int = 1) -> float:
    """Median seconds of ``solver.step_batch(x, y)`` over ``repeats`` steps after ``warmup``
    (the device synchronised around each timed step)."""
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda *_: None)
    for _ in range(warmup):
        solver.step_batch(x, y)
    times = []
    for _ in range(repeats):
        sync(x.device)
        t0 = time.perf_counter()
        solver.step_batch(x, y)
        sync(x.device)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def time_steps(arch: dict, batch: torch.Tensor, sigma: float, device, repeats: int = 10) -> dict:
    """Seconds per lifted step and per backprop step of the same network on one batch."""
    noisy = (batch + sigma * torch.randn(batch.shape, generator=torch.Generator().manual_seed(0))).to(device)
    clean = batch.to(device)
    out = {}
    for trainer in ("lifted", "backprop"):
        torch.manual_seed(0)
        out[trainer] = median_step_seconds(make_solver(trainer, build_denoiser(arch).to(device)), noisy, clean, repeats)
    out["ratio"] = out["lifted"] / out["backprop"]
    return out


def run_denoise_benchmark(
    *,
    sigmas=(15, 25, 50),
    budget: float = 600.0,
    other_budget: float | None = None,
    main_sigma: int = 25,
    depth: int = 10,
    features: int = 32,
    dncnn_depth: int = 4,
    dncnn_features: int = 24,
    patch: int = 40,
    batch_size: int = 32,
    lr: float = 1e-3,
    train_images=None,
    test_images=None,
    test_names=None,
    device=None,
    out: str | Path = "results/bench_denoise",
    progress: bool = True,
    max_patches: int | None = None,
    command: str | None = None,
) -> dict:
    """Run the benchmark and write its JSON, Markdown and figures under ``out``.

    ``sigmas`` are on the 0-255 scale; trained methods get ``budget`` seconds at
    ``main_sigma`` and ``other_budget`` (default: the same) at the other levels.
    """
    from ..data import embedded_names, load_embedded
    from ..utils.checks import resolve_device
    from .figures import plot_panels, plot_psnr_vs_time

    device = resolve_device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_images = train_images if train_images is not None else load_embedded("train")
    test_images = test_images if test_images is not None else load_embedded("test")
    test_names = test_names or embedded_names("test")
    channels = int(train_images[0].shape[0])
    other_budget = budget if other_budget is None else other_budget
    records, panels = [], {}
    for s255 in sigmas:
        sigma = s255 / 255.0
        noisy = noisy_test_set(test_images, sigma)
        results = {"noisy input": (noisy, {})}
        weight, _ = tune_tv_weight(train_images, sigma)
        results["TV (scikit-image, tuned on train)"] = (
            [tv_denoise(z, weight) for z in noisy], {"weight": weight})
        if bm3d_available():
            results["BM3D"] = ([bm3d_denoise(z, sigma) for z in noisy], {})
        for label, model, trainer in TRAINED:
            if model == "dncnn":
                arch = default_arch("dncnn", channels, depth=dncnn_depth, features=dncnn_features)
            else:
                arch = default_arch(model, channels, patch, depth=depth, features=features)
            curve = []
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)

            def on_epoch(record, network, _curve=curve, _noisy=noisy):
                """Test PSNR after every epoch, outside the timed region, for the time curve."""
                _curve.append((record["seconds"], score(denoise_images(network, _noisy), test_images)["psnr_mean"]))

            net, hist = train_denoiser(
                model, trainer, sigma=sigma, images=train_images, arch=arch, patch=patch,
                budget=budget if s255 == main_sigma else other_budget, batch_size=batch_size, lr=lr,
                device=device, progress=progress, callback=on_epoch, max_patches=max_patches,
            )
            restored = denoise_images(net, noisy)
            results[label] = (restored, {
                "arch": arch, "parameters": n_parameters(net), "trainer": trainer,
                "seconds": hist.final.get("seconds"), "iterations": hist.final.get("iterations"),
                "epochs": hist.final.get("epoch"), "peak_memory_mb": _peak_memory_mb(device),
                "curve": curve,
            })
        for label, (restored, extra) in results.items():
            records.append({"sigma": s255, "method": label, **score(restored, test_images), **extra})
        if s255 == main_sigma:
            panels = {label: restored for label, (restored, _) in results.items()}
    timing = time_steps(default_arch("dfb", channels, patch, depth=depth, features=features),
                        _timing_batch(train_images, patch, batch_size), main_sigma / 255, device)
    meta = {"command": command or " ".join(sys.argv), "liftinv": __version__, "torch": torch.__version__,
            "device": str(device), "threads": torch.get_num_threads(), "machine": platform.processor()
            or platform.machine(), "budget_s": budget, "other_budget_s": other_budget,
            "main_sigma": main_sigma, "ssim": SSIM_CONVENTION, "test_images": list(test_names),
            "step_time": timing}
    report = {"meta": meta, "records": records}
    _write(out / "denoise.json", json.dumps(report, indent=1))
    _write(out / "denoise.md", markdown_tables(report))
    plot_psnr_vs_time(records, out / "denoise_psnr_vs_time.png")
    plot_panels(test_images[0], panels, out / "denoise_panels.png", title=f"{test_names[0]}, sigma={main_sigma}/255")
    return report


def _timing_batch(images, patch, batch_size):
    return training_patches(images, patch=patch)[:batch_size]


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def markdown_tables(report: dict) -> str:
    """One Markdown table per noise level, then the step-time comparison."""
    meta, recs = report["meta"], report["records"]
    names = meta["test_images"]
    lines = [f"Command: `{meta['command']}`  ", f"Device: {meta['device']} ({meta['machine']}, "
             f"{meta['threads']} threads), torch {meta['torch']}, liftinv {meta['liftinv']}.  ",
             f"Budget per trained method: {meta['budget_s']:.0f} s at sigma={meta['main_sigma']:g}/255, "
             f"{meta['other_budget_s']:.0f} s at the other levels.  ",
             "PSNR: data range 1, every output (the noisy input too) clipped to [0, 1].  ",
             f"{meta['ssim']}.", ""]
    for s in sorted({r["sigma"] for r in recs}):
        lines += [f"### sigma = {s:g}/255", "",
                  "| method | " + " | ".join(f"PSNR {n}" for n in names) + " | mean PSNR | mean SSIM | params | train s | iters |",
                  "|---|" + "---|" * (len(names) + 5)]
        for r in (r for r in recs if r["sigma"] == s):
            cells = " | ".join(f"{p:.2f}" for p in r["psnr"])
            params = r.get("parameters", "")
            secs = f"{r['seconds']:.0f}" if r.get("seconds") is not None else ""
            lines.append(f"| {r['method']} | {cells} | {r['psnr_mean']:.2f} | {r['ssim_mean']:.3f} | "
                         f"{params} | {secs} | {r.get('iterations', '')} |")
        lines.append("")
    t = meta["step_time"]
    lines += [f"One training step of the DFB-PNN on the same batch (median of 10): lifted "
              f"{t['lifted'] * 1e3:.0f} ms, backprop {t['backprop'] * 1e3:.0f} ms, ratio {t['ratio']:.2f}.", ""]
    return "\n".join(lines)
