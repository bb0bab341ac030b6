"""``liftinv bench denoise``: trained and classical denoisers side by side.

In one process, on the same training patches and the same noisy test images (noise drawn once
from a fixed seed), for each noise level:

* the noisy input, TV (scikit-image, weight tuned on the *training* images) and BM3D (when the
  optional ``bm3d`` package is installed);
* the DFB-PNN trained by lifted Bregman BCD and by backprop (Adam), and deepinv's DnCNN trained
  by backprop, each for the same wall-clock budget.

Writes ``denoise.json`` (one record per method and noise level: settings, seconds, iterations,
peak memory, PSNR/SSIM per image and mean, the PSNR-vs-time curve), ``denoise.md`` (the tables)
and two figures: PSNR against training time, and panels of clean, noisy and denoised test
images.  It also times one lifted step against one backprop step of the same network on the
same batch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..restoration.arguments import noise_std, positive_int, seconds
from ..utils.checks import OptionError
from . import add_common_arguments, images_of, median_step_seconds, print_report

HELP = "trained vs classical denoisers: PSNR, SSIM, time, memory; JSON, Markdown, figures"

#: (label, model, trainer) of the trained methods.
TRAINED = (("DFB-PNN, lifted Bregman BCD", "dfb", "lifted"),
           ("DFB-PNN, backprop (Adam)", "dfb", "backprop"),
           ("DnCNN (deepinv), backprop (Adam)", "dncnn", "backprop"))


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sigmas", type=noise_std(strict=True), nargs="+", default=[15, 25, 50], help="0-255 scale")
    p.add_argument("--budget", type=seconds, default=600.0, help="seconds per trained method at --main-sigma")
    p.add_argument("--other-budget", type=seconds, default=None, help="seconds at the other sigmas")
    p.add_argument("--main-sigma", type=noise_std(strict=True), default=None,
                   help="the level of --sigmas that gets --budget (the others get --other-budget), shown in the "
                        "panels and used to time the steps (default 25 when among --sigmas, else the first)")
    p.add_argument("--depth", type=positive_int, default=10, help="layers K of the DFB-PNN (default 10)")
    p.add_argument("--features", type=positive_int, default=32, help="channels F of the DFB-PNN (default 32)")
    p.add_argument("--max-patches", type=positive_int, default=None, help="subsample the training patches")
    add_common_arguments(p, "denoise", data=True)


def check(args: argparse.Namespace) -> None:
    """Options that do not go together, before the output folder is made: a --main-sigma that is
    not among --sigmas (no level would get --budget)."""
    if args.main_sigma is None:
        args.main_sigma = 25.0 if 25.0 in args.sigmas else args.sigmas[0]
    elif args.main_sigma not in args.sigmas:
        raise OptionError(f"--main-sigma {args.main_sigma:g} is not among --sigmas "
                          f"{' '.join(f'{s:g}' for s in args.sigmas)}: add it to --sigmas or pick one of them")


def run(args: argparse.Namespace) -> int:
    run_denoise_benchmark(
        **images_of(args), sigmas=args.sigmas, budget=args.budget, other_budget=args.other_budget,
        main_sigma=args.main_sigma, depth=args.depth, features=args.features, max_patches=args.max_patches,
        device=args.device, out=args.output, progress=not args.no_progress)
    print_report(args.output, "denoise")
    return 0


def time_steps(arch: dict, batch, sigma: float, device, repeats: int = 10) -> dict:
    """Seconds per lifted step and per backprop step of the same network on one batch."""
    import torch

    from ..restoration import TrainConfig, build_network, make_solver

    noisy = (batch + sigma * torch.randn(batch.shape, generator=torch.Generator().manual_seed(0))).to(device)
    clean = batch.to(device)
    out = {}
    for trainer in ("lifted", "backprop"):
        net = build_network(arch, device=device, seed=0)
        out[trainer] = median_step_seconds(make_solver(net, TrainConfig(trainer=trainer, epochs=1)), noisy, clean,
                                           repeats)
    out["ratio"] = out["lifted"] / out["backprop"]
    return out


def run_denoise_benchmark(*, sigmas=(15, 25, 50), budget: float = 600.0, other_budget: float | None = None,
                          main_sigma: float = 25, depth: int = 10, features: int = 32, dncnn_depth: int = 4,
                          dncnn_features: int = 24, patch: int = 40, batch_size: int = 32, lr: float = 1e-3,
                          train_images=None, test_images=None, test_names=None, device=None,
                          out: str | Path = "results/bench_denoise", progress: bool = True,
                          max_patches: int | None = None, command: str | None = None) -> dict:
    """Run the benchmark and write its JSON, Markdown and figures under ``out``.

    ``sigmas`` are on the 0-255 scale; trained methods get ``budget`` seconds at ``main_sigma``
    and ``other_budget`` (default: the same) at the other levels.
    """
    import torch

    from ..data import embedded_names, load_embedded
    from ..denoising.classical import bm3d_available, bm3d_denoise, tune_tv_weight, tv_denoise
    from ..denoising.models import default_arch, n_parameters
    from ..denoising.task import describe
    from ..restoration import (
        TrainConfig,
        degraded_test_set,
        make_physics,
        peak_memory_mb,
        plot_panels,
        plot_psnr_vs_time,
        restore_images,
        run_metadata,
        score,
        train_network,
        training_patches,
        write_report,
    )
    from ..utils.checks import resolve_device

    device = resolve_device(device)
    train_images = train_images if train_images is not None else load_embedded("train")
    test_images = test_images if test_images is not None else load_embedded("test")
    test_names = test_names or embedded_names("test")
    channels = int(train_images[0].shape[0])
    other_budget = budget if other_budget is None else other_budget
    records, panels, configs = [], {}, {}
    for s255 in sigmas:
        task = describe(s255 / 255.0)
        noisy = degraded_test_set(make_physics(task), test_images)
        results = {"noisy input": (noisy, {})}
        weight, _ = tune_tv_weight(train_images, task["sigma"])
        results["TV (scikit-image, tuned on train)"] = ([tv_denoise(z, weight) for z in noisy], {"weight": weight})
        if bm3d_available():
            results["BM3D"] = ([bm3d_denoise(z, task["sigma"]) for z in noisy], {})
        for label, model, trainer in TRAINED:
            if model == "dncnn":
                arch = default_arch("dncnn", channels, depth=dncnn_depth, features=dncnn_features)
            else:
                arch = default_arch(model, channels, patch, depth=depth, features=features)
            config = TrainConfig(trainer=trainer, budget=budget if s255 == main_sigma else other_budget,
                                 batch_size=batch_size, lr=lr, patch=patch, max_patches=max_patches,
                                 device=str(device))
            configs[label] = config.to_dict()
            curve = []
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)

            def on_epoch(record, network, _curve=curve, _noisy=noisy):
                """Test PSNR after every epoch, outside the timed region, for the time curve."""
                _curve.append((record["seconds"], score(restore_images(network, _noisy), test_images)["psnr_mean"]))

            net, hist = train_network(arch, task, train_images, config, progress=progress, callback=on_epoch)
            results[label] = (restore_images(net, noisy), {
                "arch": arch, "parameters": n_parameters(net), "trainer": trainer,
                "seconds": hist.final.get("seconds"), "iterations": hist.final.get("iterations"),
                "epochs": hist.final.get("epoch"), "peak_memory_mb": peak_memory_mb(device), "curve": curve})
        for label, (restored, extra) in results.items():
            records.append({"sigma": s255, "method": label, **score(restored, test_images), **extra})
        if s255 == main_sigma or not panels:  # the panels show main_sigma, else the first level
            panels, panel_sigma = {label: restored for label, (restored, _) in results.items()}, s255
    timing_config = TrainConfig(patch=patch, epochs=1)
    timing = time_steps(default_arch("dfb", channels, patch, depth=depth, features=features),
                        training_patches(train_images, timing_config)[:batch_size], main_sigma / 255, device)
    meta = run_metadata(device, command, budget_s=budget, other_budget_s=other_budget, main_sigma=main_sigma,
                        test_images=list(test_names), step_time=timing, configs=configs)
    report = {"meta": meta, "records": records}
    write_report(out, "denoise", report, markdown_tables(report))
    plot_psnr_vs_time(records, Path(out) / "denoise_psnr_vs_time.png")
    plot_panels(test_images[0], panels, Path(out) / "denoise_panels.png",
                title=f"{test_names[0]}, sigma={panel_sigma:g}/255")
    return report


def markdown_tables(report: dict) -> str:
    """One Markdown table per noise level, then the step-time comparison."""
    from ..restoration import markdown_header

    meta, recs = report["meta"], report["records"]
    names = meta["test_images"]
    lines = markdown_header(meta) + [
        f"Budget per trained method: {meta['budget_s']:.0f} s at sigma={meta['main_sigma']:g}/255, "
        f"{meta['other_budget_s']:.0f} s at the other levels.  ",
        "PSNR: data range 1, every output (the noisy input too) clipped to [0, 1].  ", f"{meta['ssim']}.", ""]
    for s in sorted({r["sigma"] for r in recs}):
        lines += [f"### sigma = {s:g}/255", "",
                  "| method | " + " | ".join(f"PSNR {n}" for n in names)
                  + " | mean PSNR | mean SSIM | params | train s | iters |",
                  "|---|" + "---|" * (len(names) + 5)]
        for r in (r for r in recs if r["sigma"] == s):
            cells = " | ".join(f"{p:.2f}" for p in r["psnr"])
            secs = f"{r['seconds']:.0f}" if r.get("seconds") is not None else ""
            lines.append(f"| {r['method']} | {cells} | {r['psnr_mean']:.2f} | {r['ssim_mean']:.3f} | "
                         f"{r.get('parameters', '')} | {secs} | {r.get('iterations', '')} |")
        lines.append("")
    t = meta["step_time"]
    lines += [f"One training step of the DFB-PNN on the same batch (median of 10): lifted "
              f"{t['lifted'] * 1e3:.0f} ms, backprop {t['backprop'] * 1e3:.0f} ms, ratio {t['ratio']:.2f}.", ""]
    return "\n".join(lines)
