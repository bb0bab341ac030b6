"""``liftinv bench deblur``: unrolled, plug-and-play and classical deblurring side by side.

In one process, for every (kernel, noise level) pair, on the same training patches and the same
degraded test images (blur + noise drawn once from a fixed seed):

* blurred input, Wiener (balance tuned on training images), TV deconvolution (weight tuned on
  training images), Richardson-Lucy (iterations tuned on training images);
* the unrolled deblurring network trained by lifted Bregman BCD and by backprop (Adam), the same
  object, data and wall-clock budget;
* PnP-HQS with three denoisers trained once (at ``denoiser_sigma``): DFB-PNN lifted, DFB-PNN
  backprop, and deepinv's DnCNN (backprop), or loaded from given checkpoints.

Writes ``deblur.json``, ``deblur.md`` and one panel figure per setting (clean, blurred, restored).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..restoration.arguments import noise_std, positive_int, seconds
from . import add_common_arguments, images_of, print_report

HELP = "unrolled, plug-and-play and classical deblurring: PSNR, SSIM; JSON, Markdown, figures"

DENOISERS = (("DFB-PNN lifted", "dfb", "lifted"), ("DFB-PNN backprop", "dfb", "backprop"),
             ("DnCNN backprop", "dncnn", "backprop"))


def configure(p: argparse.ArgumentParser) -> None:
    from ..deblurring.cli import DATA_STEP_HELP, TRAIN_DEFAULTS, kernel_spec
    from ..restoration.arguments import parse_lam

    p.add_argument("--kernels", type=kernel_spec, nargs="+", default=["gaussian:2.0", "motion:9:30"],
                   help="blur kernels, each gaussian:STD, box:SIZE, motion:LENGTH[:ANGLE] or a .npy/image file "
                        "(default gaussian:2.0 motion:9:30)")
    p.add_argument("--sigmas", type=noise_std(), nargs="+", default=[2.55, 12.75], help="0-255 scale (1%% and 5%%)")
    p.add_argument("--budget", type=seconds, default=120.0, help="seconds per unrolled net and setting")
    p.add_argument("--denoiser-budget", type=seconds, default=60.0, help="seconds per PnP denoiser")
    p.add_argument("--denoiser-sigma", type=noise_std(strict=True), default=10.0,
                   help="noise std (0-255 scale) the three PnP denoisers are trained at (default 10)")
    p.add_argument("--iters", type=positive_int, default=6, help="unrolled iterations K of the network (default 6)")
    p.add_argument("--features", type=positive_int, default=16, help="channels F of the unrolled network (default 16)")
    p.add_argument("--data-step", choices=("proximal", "gradient"), default="proximal", help=DATA_STEP_HELP)
    p.add_argument("--lam", type=parse_lam, default=TRAIN_DEFAULTS["lam"],
                   help=f"lifted penalty weight: a number or 'balanced' (default {TRAIN_DEFAULTS['lam']:g})")
    p.add_argument("--crop", type=positive_int, default=None, help="crop test images to CROP x CROP (top-left)")
    p.add_argument("--max-patches", type=positive_int, default=3000,
                   help="train every network (unrolled nets and denoisers) on a random subset of this many "
                        "patches (default 3000)")
    add_common_arguments(p, "deblur", data=True)


def run(args: argparse.Namespace) -> int:
    run_deblur_benchmark(
        **images_of(args), kernels=args.kernels, sigmas=args.sigmas, budget=args.budget,
        denoiser_budget=args.denoiser_budget, denoiser_sigma=args.denoiser_sigma, iters=args.iters, lam=args.lam,
        features=args.features, data_step=args.data_step, crop=args.crop, max_patches=args.max_patches,
        device=args.device, out=args.output, progress=not args.no_progress)
    print_report(args.output, "deblur")
    return 0


def _denoisers(train_images, sigma_d, budget, device, progress, checkpoints, max_patches):
    from ..denoising.models import default_arch
    from ..denoising.task import describe
    from ..restoration import TrainConfig, load_network, train_network

    out = {}
    for label, model, trainer in DENOISERS:
        ckpt = (checkpoints or {}).get(label)
        if ckpt:
            net, state = load_network(ckpt, device)
            out[label] = (net, state["task"]["sigma"], {"checkpoint": str(ckpt)})
            continue
        channels = train_images[0].shape[0]  # 1, or 3 with --color
        arch = (default_arch("dncnn", channels, depth=4, features=24) if model == "dncnn"
                else default_arch(model, channels, 40, depth=8, features=24))
        config = TrainConfig(trainer=trainer, budget=budget, max_patches=max_patches, device=str(device))
        net, hist = train_network(arch, describe(sigma_d), train_images, config, progress=progress)
        out[label] = (net, sigma_d, {"arch": arch, "train_seconds": hist.final.get("seconds"),
                                     "iterations": hist.final.get("iterations")})
    return out


def run_deblur_benchmark(*, kernels=("gaussian:2.0", "motion:9:30"), sigmas=(2.55, 12.75), budget: float = 120.0,
                         denoiser_budget: float = 60.0, denoiser_sigma: float = 10.0, iters: int = 6,
                         features: int = 16, data_step: str = "proximal", patch: int = 40,
                         batch_size: int | None = None, lr: float | None = None, lam: float | str | None = None,
                         pnp_iters: int = 8,
                         train_images=None, test_images=None, test_names=None, crop: int | None = None, device=None,
                         out: str | Path = "results/bench_deblur", progress: bool = True,
                         max_patches: int | None = 3000, denoiser_checkpoints: dict | None = None,
                         command: str | None = None) -> dict:
    """Run the benchmark.  ``lam``, ``lr``, ``batch_size``: the unrolled nets' training settings
    (default: ``liftinv.deblurring.cli.TRAIN_DEFAULTS``); ``sigmas`` and ``denoiser_sigma`` on the
    0-255 scale; ``crop`` takes the top-left ``crop x crop`` of each test image (None: whole)."""
    import torch

    from ..data import embedded_names, load_embedded
    from ..deblurring.classical import richardson_lucy, tune, tv_deconvolve, wiener_deconvolve, wiener_grid
    from ..deblurring.cli import TRAIN_DEFAULTS
    from ..deblurring.models import default_deblur_arch
    from ..deblurring.physics import parse_kernel
    from ..deblurring.pnp import pnp_hqs
    from ..deblurring.task import describe
    from ..restoration import (
        TrainConfig,
        degraded_test_set,
        make_physics,
        markdown_header,
        peak_memory_mb,
        plot_panels,
        restore_images,
        run_metadata,
        score,
        train_network,
        write_report,
    )
    from ..utils.checks import resolve_device

    device = resolve_device(device)
    parsed = {kspec: parse_kernel(kspec) for kspec in kernels}  # a bad kernel fails now, not after training
    Path(out).mkdir(parents=True, exist_ok=True)
    train_images = train_images if train_images is not None else load_embedded("train")
    test_images = test_images if test_images is not None else load_embedded("test")
    test_names = list(test_names or embedded_names("test"))
    if crop:
        test_images = [t[..., :crop, :crop] for t in test_images]
    dens = _denoisers(train_images, denoiser_sigma / 255, denoiser_budget, device, progress,
                      denoiser_checkpoints, max_patches)
    base = TrainConfig.with_defaults(TRAIN_DEFAULTS, budget=budget, batch_size=batch_size, lr=lr, lam=lam,
                                     patch=patch, max_patches=max_patches, device=str(device))
    records = []
    for kspec in kernels:
        kernel = parsed[kspec]
        for s255 in sigmas:
            sigma = s255 / 255
            task = describe(kernel, sigma)
            blurred = degraded_test_set(make_physics(task), test_images)
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
                arch = default_deblur_arch(kernel, train_images[0].shape[0], patch, iters=iters, features=features,
                                           data_step=data_step)
                net, hist = train_network(arch, task, train_images, base.replace(trainer=trainer),
                                          progress=progress, desc=f"deblur/{trainer}")
                results[label] = (restore_images(net, blurred), {
                    "arch": {k: v for k, v in arch.items() if k != "kernel"}, "trainer": trainer,
                    "seconds": hist.final.get("seconds"), "iterations": hist.final.get("iterations"),
                    "epochs": hist.final.get("epoch"), "peak_memory_mb": peak_memory_mb(device)})
            for label, (den, s_d, info) in dens.items():
                restored = [pnp_hqs(y, kernel, sigma, den, s_d, iters=pnp_iters) for y in blurred]
                results[f"PnP-HQS + {label}"] = (restored, {"denoiser": info, "sigma_d": s_d * 255,
                                                            "pnp_iters": pnp_iters})
            for label, (restored, extra) in results.items():
                records.append({"kernel": kspec, "sigma": s255, "method": label, **score(restored, test_images),
                                **extra})
            tag = kspec.replace(":", "-") + f"_s{s255:g}"
            plot_panels(test_images[0], {k: v[0][0] for k, v in results.items()}, Path(out) / f"deblur_{tag}.png",
                        title=f"{test_names[0]}, kernel {kspec}, noise {s255:g}/255")
    meta = run_metadata(device, command, budget_s=budget, denoiser_budget_s=denoiser_budget,
                        denoiser_sigma=denoiser_sigma, crop=crop, test_images=test_names, data_step=data_step,
                        iters=iters, features=features, config=base.to_dict())
    report = {"meta": meta, "records": records}
    write_report(out, "deblur", report, markdown_tables(report, markdown_header(meta)))
    return report


def markdown_tables(report: dict, header: list[str]) -> str:
    meta, recs = report["meta"], report["records"]
    names = meta["test_images"]
    lines = header + [
        f"Unrolled nets: {meta['budget_s']:.0f} s each (lifted and backprop, same wall clock; "
        f"lam {meta['config']['lam']}); denoisers for PnP: {meta['denoiser_budget_s']:.0f} s each at sigma "
        f"{meta['denoiser_sigma']:g}/255.  ",
        f"Circular blur, Gaussian noise (0-255 scale). PSNR: data range 1, outputs clipped to [0, 1]. "
        f"{meta['ssim']}." + (f" Test images cropped to {meta['crop']}x{meta['crop']}." if meta["crop"] else ""),
        ""]
    for k, s in dict.fromkeys((r["kernel"], r["sigma"]) for r in recs):
        lines += [f"### kernel {k}, noise {s:g}/255", "",
                  "| method | " + " | ".join(f"PSNR {n}" for n in names)
                  + " | mean PSNR | mean SSIM | train s | iters |",
                  "|---|" + "---|" * (len(names) + 4)]
        for r in (r for r in recs if r["kernel"] == k and r["sigma"] == s):
            secs = f"{r['seconds']:.0f}" if r.get("seconds") is not None else ""
            it = r.get("iterations", "") if r.get("seconds") is not None else ""
            lines.append(f"| {r['method']} | " + " | ".join(f"{p:.2f}" for p in r["psnr"])
                         + f" | {r['psnr_mean']:.2f} | {r['ssim_mean']:.3f} | {secs} | {it} |")
        lines.append("")
    return "\n".join(lines)
