"""``liftinv bench deblur``: unrolled, plug-and-play and classical deblurring side by side.

In one process, for every (kernel, noise level) pair, on the same training patches and the
same degraded test images (blur + noise drawn once from a fixed seed):

* blurred input, Wiener (balance tuned on training images), TV deconvolution (weight tuned on
  training images), Richardson-Lucy (iterations tuned on training images);
* the unrolled deblurring network trained by lifted Bregman BCD and by backprop (Adam), the
  same object, data and wall-clock budget;
* PnP-HQS with three denoisers trained once (at ``denoiser_sigma``) by
  :func:`liftinv.denoising.training.train_denoiser`: DFB-PNN lifted, DFB-PNN backprop, and
  deepinv's DnCNN (backprop), or loaded from given checkpoints.

Writes ``deblur.json``, ``deblur.md`` and one panel figure per setting
(clean, blurred, restored).
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import torch

from .. import __version__
from ..denoising.bench import _peak_memory_mb, _write
from ..denoising.evaluation import score
from ..denoising.figures import plot_panels
from ..metrics import SSIM_CONVENTION
from .classical import richardson_lucy, tune, tv_deconvolve, wiener_deconvolve, wiener_grid
from .models import default_deblur_arch
from .physics import blurred_test_set, parse_kernel
from .pnp import pnp_hqs
from .training import DEFAULT_LAM, deblur_images, train_deblurrer

DENOISERS = (("DFB-PNN lifted", "dfb", "lifted"), ("DFB-PNN backprop", "dfb", "backprop"),
             ("DnCNN backprop", "dncnn", "backprop"))


def _denoisers(train_images, sigma_d, budget, device, progress, checkpoints, max_patches):
    from ..checkpoint import load_checkpoint, load_weights
    from ..denoising.models import build_denoiser, default_arch
    from ..denoising.training import train_denoiser

    out = {}
    for label, model, trainer in DENOISERS:
        ckpt = (checkpoints or {}).get(label)
        if ckpt:
            state = load_checkpoint(ckpt, map_location=device)
            net = build_denoiser(state["arch"]).to(device)
            load_weights(net, state["arch"], state)
            out[label] = (net, state["settings"]["sigma"], {"checkpoint": str(ckpt)})
            continue
        arch = (default_arch("dncnn", 1, depth=4, features=24) if model == "dncnn"
                else default_arch(model, 1, 40, depth=8, features=24))
        net, hist = train_denoiser(model, trainer, sigma=sigma_d, images=train_images, arch=arch, budget=budget,
                                   device=device, progress=progress, max_patches=max_patches)
        out[label] = (net, sigma_d, {"arch": arch, "train_seconds": hist.final.get("seconds"),
                                     "iterations": hist.final.get("iterations")})
    return out


def run_deblur_benchmark(
    *,
    kernels=("gaussian:2.0", "motion:9:30"),
    sigmas=(2.55, 12.75),
    budget: float = 120.0,
    denoiser_budget: float = 60.0,
    denoiser_sigma: float = 10.0,
    iters: int = 6,
    features: int = 16,
    data_step: str = "proximal",
    patch: int = 40,
    batch_size: int = 16,
    lr: float = 2e-3,
    lam: float | str = DEFAULT_LAM,
    pnp_iters: int = 8,
    train_images=None,
    test_images=None,
    test_names=None,
    crop: int | None = None,
    device=None,
    out: str | Path = "results/bench_deblur",
    progress: bool = True,
    max_patches: int | None = 3000,
    denoiser_checkpoints: dict | None = None,
    command: str | None = None,
) -> dict:
    """Run the benchmark; ``lam``: the lifted penalty weights (see
    :func:`~liftinv.deblurring.training.layer_weights` for ``'balanced'``); ``sigmas`` and ``denoiser_sigma`` on the 0-255 scale; ``crop`` takes
    the top-left ``crop x crop`` of each test image (None: whole images)."""
    from ..data import embedded_names, load_embedded
    from ..utils.checks import resolve_device

    device = resolve_device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_images = train_images if train_images is not None else load_embedded("train")
    test_images = test_images if test_images is not None else load_embedded("test")
    test_names = list(test_names or embedded_names("test"))
    if crop:
        test_images = [t[..., :crop, :crop] for t in test_images]
    dens = _denoisers(train_images, denoiser_sigma / 255, denoiser_budget, device, progress,
                      denoiser_checkpoints, max_patches)
    records = []
    for kspec in kernels:
        kernel = parse_kernel(kspec)
        for s255 in sigmas:
            sigma = s255 / 255
            blurred = blurred_test_set(test_images, kernel, sigma)
            results = {"blurred input": (blurred, {})}
            b, _ = tune(wiener_deconvolve, train_images, kernel, sigma, wiener_grid(sigma))
            results["Wiener (balance tuned on train)"] = ([wiener_deconvolve(y, kernel, b) for y in blurred],
                                                          {"balance": b})
            w, _ = tune(tv_deconvolve, train_images, kernel, sigma, [sigma * f for f in (0.1, 0.2, 0.4, 0.8)])
            results["TV deconvolution (weight tuned on train)"] = (
                [tv_deconvolve(y, kernel, w) for y in blurred], {"weight": w})
            n_rl, _ = tune(richardson_lucy, train_images, kernel, sigma, [5, 10, 20, 40])
            results["Richardson-Lucy (iterations tuned on train)"] = (
                [richardson_lucy(y, kernel, n_rl) for y in blurred], {"iterations": n_rl})
            for trainer, label in (("lifted", "unrolled net, lifted BCD"), ("backprop", "unrolled net, backprop")):
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                arch = default_deblur_arch(kernel, 1, patch, iters=iters, features=features, data_step=data_step)
                net, hist = train_deblurrer(kernel, trainer, sigma=sigma, images=train_images, arch=arch,
                                            patch=patch, budget=budget, batch_size=batch_size, lr=lr,
                                            lam=lam, device=device, progress=progress, max_patches=max_patches)
                results[label] = (deblur_images(net, blurred), {
                    "arch": {k: v for k, v in arch.items() if k != "kernel"}, "trainer": trainer,
                    "seconds": hist.final.get("seconds"), "iterations": hist.final.get("iterations"),
                    "epochs": hist.final.get("epoch"), "peak_memory_mb": _peak_memory_mb(device)})
            for label, (den, s_d, info) in dens.items():
                restored = [pnp_hqs(y, kernel, sigma, den, s_d, iters=pnp_iters) for y in blurred]
                results[f"PnP-HQS + {label}"] = (restored, {"denoiser": info, "sigma_d": s_d * 255,
                                                            "pnp_iters": pnp_iters})
            for label, (restored, extra) in results.items():
                records.append({"kernel": kspec, "sigma": s255, "method": label, **score(restored, test_images),
                                **extra})
            tag = kspec.replace(":", "-") + f"_s{s255:g}"
            plot_panels(test_images[0], {k: v[0][0] for k, v in results.items()}, out / f"deblur_{tag}.png",
                        title=f"{test_names[0]}, kernel {kspec}, noise {s255:g}/255")
    meta = {"command": command or " ".join(sys.argv), "liftinv": __version__, "torch": torch.__version__,
            "device": str(device), "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(), "budget_s": budget,
            "denoiser_budget_s": denoiser_budget, "denoiser_sigma": denoiser_sigma, "crop": crop,
            "ssim": SSIM_CONVENTION, "test_images": test_names, "data_step": data_step, "iters": iters,
            "features": features, "lam": lam}
    report = {"meta": meta, "records": records}
    _write(out / "deblur.json", json.dumps(report, indent=1))
    _write(out / "deblur.md", markdown_tables(report))
    return report


def markdown_tables(report: dict) -> str:
    meta, recs = report["meta"], report["records"]
    names = meta["test_images"]
    lines = [f"Command: `{meta['command']}`  ",
             f"Device: {meta['device']} ({meta['machine']}, {meta['threads']} threads), torch {meta['torch']}.  ",
             f"Unrolled nets: {meta['budget_s']:.0f} s each (lifted and backprop, same wall clock); denoisers for "
             f"PnP: {meta['denoiser_budget_s']:.0f} s each at sigma {meta['denoiser_sigma']:g}/255.  ",
             f"Circular blur, Gaussian noise (0-255 scale). PSNR: data range 1, outputs clipped to [0, 1]. "
             f"{meta['ssim']}." + (f" Test images cropped to {meta['crop']}x{meta['crop']}." if meta["crop"] else ""),
             ""]
    for k, s in dict.fromkeys((r["kernel"], r["sigma"]) for r in recs):
        lines += [f"### kernel {k}, noise {s:g}/255", "",
                  "| method | " + " | ".join(f"PSNR {n}" for n in names) + " | mean PSNR | mean SSIM | train s | iters |",
                  "|---|" + "---|" * (len(names) + 4)]
        for r in (r for r in recs if r["kernel"] == k and r["sigma"] == s):
            secs = f"{r['seconds']:.0f}" if r.get("seconds") is not None else ""
            it = r.get("iterations", "") if r.get("seconds") is not None else ""
            lines.append(f"| {r['method']} | " + " | ".join(f"{p:.2f}" for p in r["psnr"])
                         + f" | {r['psnr_mean']:.2f} | {r['ssim_mean']:.3f} | {secs} | {it} |")
        lines.append("")
    return "\n".join(lines)
