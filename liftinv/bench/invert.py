"""``liftinv bench invert``: the inversion experiments, JSON + Markdown + figures.

1. random ReLU perceptron + TV, error versus delta (log-log, fitted slope vs theory 1);
2. a convolutional autoencoder trained by lifted BCD (on the embedded *training*
   images), its encoder inverted from noisy codes of the *test* images: lifted versus
   gradient inversion (Adam, L-BFGS) at the same iteration budget, PSNR/SSIM;
3. the same trained network inverted from its output and from intermediate features;
4. a DFB-PNN denoiser inverted from its output and features;
5. a conv encoder trained by plain torch backprop (not by liftinv), inverted from noisy codes:
   lifted, L-BFGS and Adam, PSNR against seconds and iterations (:mod:`.invert_torch`).

``--cases`` runs a subset (the features case needs the autoencoder's).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..restoration.arguments import nonneg_float, nonneg_int, positive_float, positive_int, seconds
from . import add_common_arguments, print_report

#: how many training images (the first ones) the autoencoder case tunes its TV weights on, a central crop of each
TUNING_IMAGES = 6
CASES = ("perceptron", "autoencoder", "features", "denoiser", "torch")
HELP = ("network inversion: perceptron rate vs delta, autoencoder lifted vs gradient, features; "
        "JSON, Markdown, figures")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=positive_int, default=64, help="perceptron image side (default 64: 4096 -> 512)")
    p.add_argument("--m", type=positive_int, default=512, help="perceptron outputs")
    p.add_argument("--perceptron-iters", type=positive_int, default=2000,
                   help="PDHG iterations of each single-layer (perceptron) inversion (default 2000)")
    p.add_argument("--n-perceptron", type=positive_int, default=3, help="test images used by the perceptron")
    p.add_argument("--alpha-per-delta", type=nonneg_float, default=0.01, help="alpha = this x delta")
    p.add_argument("--ae-epochs", type=nonneg_int, default=36,
                   help="autoencoder training epochs of 313 steps (reproducible; 0: train for --ae-budget seconds)")
    p.add_argument("--ae-budget", type=seconds, default=60.0, help="autoencoder training seconds with --ae-epochs 0")
    p.add_argument("--ae-code", type=positive_int, default=64, help="code size")
    p.add_argument("--crop", type=positive_int, default=128, help="test crop side inverted tile by tile")
    p.add_argument("--levels", type=nonneg_float, nargs="+", default=[0.01, 0.05, 0.1], help="relative code noise")
    p.add_argument("--ae-alpha", type=nonneg_float, default=1e-4,
                   help="TV weight of the feature inversions (and of the autoencoder ones when --alpha-grid "
                        "is given no value)")
    p.add_argument("--alpha-grid", type=positive_float, nargs="*", default=[3e-5, 1e-4, 2e-4, 3e-4, 6e-4, 1e-3],
                   help="TV weights tried per (noise level, method) on training crops (up to 6), up to 3 more "
                        "(x3 or /3) past an end while the best is there (empty: use --ae-alpha)")
    p.add_argument("--iters", type=positive_int, default=300, help="iteration budget of every inversion method")
    p.add_argument("--beta", type=nonneg_float, default=0.95, help="inertia of the lifted block steps")
    p.add_argument("--lam", type=positive_float, default=0.3, help="weight of the hidden-layer Bregman penalties")
    p.add_argument("--adam-lr", type=positive_float, default=0.03, help="Adam's learning rate (gradient baseline)")
    p.add_argument("--dfb-budget", type=seconds, default=20.0, help="DFB-PNN denoiser training seconds")
    p.add_argument("--seed", type=nonneg_int, default=0,
                   help="seed of the random perceptron, the networks' training, the crops and the noise (default 0)")
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="cases to run (default: all)")
    p.add_argument("--torch-steps", type=positive_int, default=1500, help="Adam steps training the torch autoencoder")
    p.add_argument("--torch-iters", type=positive_int, default=400, help="iterations of every method in the torch case")
    p.add_argument("--torch-levels", type=nonneg_float, nargs="+", default=[0.0, 0.01, 0.05, 0.1],
                   help="relative code noise of the torch case")
    add_common_arguments(p, "invert")


def run(args: argparse.Namespace) -> int:
    from ..data import embedded_names, load_embedded

    run_invert_benchmark(
        train_images=load_embedded("train"), test_images=load_embedded("test"), test_names=embedded_names("test"),
        out=args.output, device=args.device, size=args.size, m=args.m, perceptron_iters=args.perceptron_iters,
        n_perceptron=args.n_perceptron, alpha_per_delta=args.alpha_per_delta, ae_budget=args.ae_budget,
        ae_epochs=args.ae_epochs or None,
        ae_code=args.ae_code, crop=args.crop, levels=args.levels, ae_alpha=args.ae_alpha, iters=args.iters,
        alpha_grid=args.alpha_grid, lifted_beta=args.beta, lam=args.lam, adam_lr=args.adam_lr,
        dfb_budget=args.dfb_budget, seed=args.seed, progress=not args.no_progress, cases=args.cases,
        torch_steps=args.torch_steps, torch_iters=args.torch_iters, torch_levels=args.torch_levels)
    print_report(args.output, "invert")
    return 0


def run_invert_benchmark(*, train_images, test_images, test_names, out="results/bench_invert", device=None,
                         size: int = 64, m: int = 512, perceptron_iters: int = 2000, n_perceptron: int = 3,
                         alpha_per_delta: float = 0.01, ae_budget: float = 60.0, ae_epochs: int | None = None,
                         ae_code: int = 64,
                         ae_patch: int = 16, crop: int = 128, levels=(0.01, 0.05, 0.1), ae_alpha: float = 1e-4,
                         alpha_grid=(3e-5, 1e-4, 2e-4, 3e-4, 6e-4, 1e-3), iters: int = 300, lifted_beta: float = 0.95,
                         lam: float = 0.3, adam_lr: float = 0.03, dfb_budget: float = 20.0, seed: int = 0,
                         progress: bool = True, command: str | None = None, cases=CASES, torch_steps: int = 1500,
                         torch_iters: int = 400, torch_levels=(0.0, 0.01, 0.05, 0.1),
                         tuning_images: int = TUNING_IMAGES) -> dict:
    from ..restoration import run_metadata, write_report
    from ..utils.checks import resolve_device
    from .invert_experiments import denoiser_experiment, perceptron_experiment
    from .invert_figures import plot_perceptron

    dev = resolve_device(device)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    report = {"meta": run_metadata(dev, command)}
    if "features" in cases and "autoencoder" not in cases:
        raise ValueError("--cases features needs the autoencoder case too (it inverts that network)")
    # 1. perceptron: natural images, then ground truths satisfying the source condition
    for key, gt in (("perceptron", "natural"), ("perceptron_source", "source")) if "perceptron" in cases else ():
        per = perceptron_experiment(test_images[:n_perceptron], size=size, m=m, iters=perceptron_iters,
                                    alpha_per_delta=alpha_per_delta, seed=seed, device=dev, ground_truth=gt,
                                    progress=progress)
        plot_perceptron(per, outdir / f"invert_{key}.png")
        report[key] = {k: v for k, v in per.items() if k not in ("estimates", "truth")}
    if "autoencoder" in cases:
        _autoencoder_cases(report, outdir, train_images, test_images, test_names, dev, ae_patch=ae_patch,
                           ae_code=ae_code, ae_budget=ae_budget, ae_epochs=ae_epochs, seed=seed, progress=progress,
                           lifted_beta=lifted_beta, lam=lam, adam_lr=adam_lr, alpha_grid=alpha_grid, levels=levels,
                           iters=iters, ae_alpha=ae_alpha, crop=crop, features="features" in cases,
                           tuning_images=tuning_images)
    # 4. an unrolled denoiser (DFB-PNN, lifted-trained) inverted from its output / features
    if "denoiser" in cases:
        report["denoiser"] = denoiser_experiment(train_images, test_images, test_names, budget=dfb_budget,
                                                 crop=crop // 2, iters=iters, seed=seed, device=dev,
                                                 progress=progress)
    # 5. a network trained by plain torch backprop
    if "torch" in cases:
        from .invert_torch import plot_torch_curves, random_crops, torch_encoder_experiment, train_torch_autoencoder

        enc, info = train_torch_autoencoder(train_images, steps=torch_steps, seed=seed, device=dev, progress=progress)
        res = torch_encoder_experiment(enc, random_crops(train_images, 1, seed + 1)[:4],
                                       random_crops(test_images, 2, seed + 2), levels=tuple(torch_levels),
                                       iters=torch_iters, seed=seed, progress=progress)
        plot_torch_curves(res, outdir / "invert_torch_curves.png")
        report["torch"] = {"train": info, **res}
    report["total_seconds"] = time.perf_counter() - t_start
    write_report(outdir, "invert", report, markdown_tables(report))
    return report


def _autoencoder_cases(report, outdir, train_images, test_images, test_names, dev, *, ae_patch, ae_code, ae_budget,
                       ae_epochs, seed, progress, lifted_beta, lam, adam_lr, alpha_grid, levels, iters, ae_alpha, crop,
                       features: bool, tuning_images: int = TUNING_IMAGES) -> None:
    """Cases 2 and 3: the lifted-trained autoencoder, from noisy codes and from features."""
    from ..checkpoint import save_checkpoint
    from ..inversion.autoencoder import autoencoder_arch, train_autoencoder
    from .invert_experiments import autoencoder_experiment, features_experiment, tune_alphas
    from .invert_figures import plot_ae_panels, plot_psnr_curves

    # 2. autoencoder
    arch = autoencoder_arch(ae_patch, (8, 16), ae_code, 256)
    t0 = time.perf_counter()
    net, hist = train_autoencoder(train_images, arch, budget=ae_budget, epochs=ae_epochs, device=dev, seed=seed,
                                  progress=progress)
    train_seconds = time.perf_counter() - t0
    save_checkpoint(outdir / "autoencoder.pt", arch=arch, network=net, task={"task": "autoencoder"},
                    history=list(hist))
    methods = [{"label": "lifted (apg)", "kind": "lifted", "lam": 1.0},
               {"label": "lifted (apg, lifted output)", "kind": "lifted", "lam": 1.0, "data_term": "lifted"},
               {"label": "lifted BCD", "kind": "lifted", "method": "bcd", "beta": lifted_beta, "lam": lam},
               {"label": "gradient (Adam)", "kind": "adam", "lr": adam_lr},
               {"label": "gradient (L-BFGS)", "kind": "lbfgs"}]
    if alpha_grid:  # TV weight per (level, method), tuned on TRAINING images
        alphas, tuning = tune_alphas(net, train_images[:tuning_images], levels=levels, methods=methods, grid=alpha_grid,
                                     iters=iters, seed=seed)
    else:
        alphas, tuning = [ae_alpha] * len(levels), []
    ae = autoencoder_experiment(net, test_images, test_names, crop=crop, levels=levels, alphas=alphas,
                                methods=methods, iters=iters, seed=seed, progress=progress)
    ae["tuning"] = tuning
    plot_ae_panels(ae, outdir / "invert_autoencoder.png")
    plot_psnr_curves(ae, outdir / "invert_autoencoder_curves.png")
    report["autoencoder"] = {"arch": arch, "train_seconds": train_seconds, "train_final": hist.final,
                             "train_steps": hist.final.get("iterations"), "train_epochs": ae_epochs,
                             **{k: v for k, v in ae.items() if k != "panels"}}
    # 3. features of intermediate layers and the output
    if features:
        report["features"] = features_experiment(net, test_images, test_names, layers=[1, 2, net.depth],
                                                 alpha=ae_alpha, iters=iters, crop=crop,
                                                 methods=[methods[0], methods[3], methods[4]], progress=progress)


def _mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else float("nan")


def _header(report: dict) -> list[str]:
    from ..restoration import markdown_header

    meta = report["meta"]
    return markdown_header(meta, "liftinv bench invert") + [f"{meta['ssim']}. Total {report['total_seconds']:.0f} s.",
                                                            ""]


def _perceptron_lines(report: dict) -> list[str]:
    lines = []
    for key in ("perceptron", "perceptron_source"):
        lines += _perceptron_table(report[key])
    return lines


def markdown_tables(report: dict) -> str:
    from .invert_torch import markdown_lines as torch_lines

    lines = _header(report)
    if "perceptron" in report:
        lines += _perceptron_lines(report)
    lines += _ae_lines(report)
    if "torch" in report:
        lines += torch_lines(report["torch"], report["torch"]["train"])
    return "\n".join(lines) + "\n"


def _perceptron_table(per: dict) -> list[str]:
    s = per["settings"]
    gt = ("natural images (no source condition)" if s["ground_truth"] == "natural" else
          "ground truths satisfying the source condition (TV inversions of the exact data at alpha "
          f"{s['alpha_source']:g})")
    rule = (f"{s['alpha_per_delta']} delta" if s["ground_truth"] == "natural" or s.get("alpha_rule") != "theory"
            else "sqrt(2) delta / ||v+|| (theorem)")
    lines = [f"## 1. Random ReLU perceptron {s['size']**2} -> {s['m']}, TV, alpha = {rule} "
             f"(single-layer PDHG, {s['iters']} iterations), {gt}", "",
              "| noise scale | mean delta | mean alpha | mean D_TV(u+, u_a) | mean rel. l2 error | mean PSNR (dB) |",
              "|---|---|---|---|---|---|"]
    for sc in s["noise_scales"]:
        rs = [r for r in per["records"] if r["noise_scale"] == sc]
        lines.append(f"| {sc:g} | {_mean(r['delta'] for r in rs):.3g} | {_mean(r['alpha'] for r in rs):.3g} | "
                     f"{_mean(r['bregman_error'] for r in rs):.4g} | {_mean(r['rel_l2_error'] for r in rs):.4f} | "
                     f"{_mean(r['psnr'] for r in rs):.2f} |")
    lines += ["", f"Fitted log-log slope of D_TV vs delta: **{per['slope_bregman']:.2f}** (theory: D_J = O(delta), "
              f"slope 1); of the relative l2 error: {per['slope_l2']:.2f} (no rate predicted).", ""]
    return lines


def _ae_lines(report: dict) -> list[str]:
    lines = []
    ae = report.get("autoencoder")
    if ae is None:
        return _denoiser_lines(report)
    st = ae["settings"]
    trained = (f"{ae['train_epochs']} epochs, {ae['train_seconds']:.0f} s" if ae.get("train_epochs")
               else f"{ae['train_seconds']:.0f} s")
    alpha = ("alpha per (level, method) tuned on training crops" if ae.get("tuning")
             else f"alpha fixed at {ae['records'][0]['alpha']:g} (--ae-alpha; no --alpha-grid)")
    lines += [f"## 2. Autoencoder (trained {trained} by lifted BCD), encoder inverted from noisy "
              f"codes, TV, {st['iters']} iterations each, {st['crop']}x{st['crop']} test crops; {alpha}", "",
              "| noise level | method | alpha | PSNR (dB) | SSIM | seconds |", "|---|---|---|---|---|---|"]
    for level in st["levels"]:
        for meth in st["methods"]:
            rs = [r for r in ae["records"] if r["level"] == level and r["method"] == meth["label"]]
            lines.append(f"| {level:g} | {meth['label']} | {rs[0]['alpha']:g} | {_mean(r['psnr'] for r in rs):.2f} | "
                         f"{_mean(r['ssim'] for r in rs):.3f} | {_mean(r['seconds'] for r in rs):.1f} |")
    lines += ["", "Methods: " + "; ".join(f"{m['label']}: " + ", ".join(f"{k}={v}" for k, v in m.items()
                                                                     if k not in ("label",)) for m in st["methods"])]
    lines += ["", "Per image PSNR: " + "; ".join(
        f"{r['image']} {r['level']:g} {r['method']}: {r['psnr']:.2f}" for r in ae["records"]), ""]
    return lines + _features_lines(report) + _denoiser_lines(report)


def _features_lines(report: dict) -> list[str]:
    feat = report.get("features")
    if feat is None:
        return []
    lines = [f"## 3. The trained autoencoder inverted from layer-l features (noiseless, TV alpha "
              f"{feat['settings']['alpha']:g}, {feat['settings']['iters']} iterations)", "",
              "| layer | method | PSNR (dB) | SSIM |", "|---|---|---|---|"]
    for layer in feat["settings"]["layers"]:
        for meth in sorted({r["method"] for r in feat["records"]}):
            rs = [r for r in feat["records"] if r["layer"] == layer and r["method"] == meth]
            lines.append(f"| {layer} | {meth} | {_mean(r['psnr'] for r in rs):.2f} | "
                         f"{_mean(r['ssim'] for r in rs):.3f} |")
    return lines


def _denoiser_lines(report: dict) -> list[str]:
    lines = []
    den = report.get("denoiser")
    if den:
        s = den["settings"]
        lines += ["", f"## 4. DFB-PNN denoiser (K={s['depth']}, F={s['features']}, "
                  f"trained {s['train_seconds']:.0f} s by "
                  f"lifted BCD at sigma {s['sigma'] * 255:.0f}/255): its noisy input z recovered from layer-l features "
                  f"(layer {s['layers'][-1]} = output), no regulariser, {s['iters']} iterations, "
                  f"{s['crop']}x{s['crop']} crops",
                  "", "| layer | method | PSNR vs z (dB) | seconds |", "|---|---|---|---|"]
        for layer in s["layers"]:
            for meth in sorted({r["method"] for r in den["records"] if r["layer"] == layer}):
                rs = [r for r in den["records"] if r["layer"] == layer and r["method"] == meth]
                lines.append(f"| {layer} | {meth} | {_mean(r['psnr_vs_input'] for r in rs):.2f} | "
                             f"{_mean(r['seconds'] for r in rs):.1f} |")
        rs = [r for r in den["records"] if r["method"] == "-"]
        lines.append(f"\n(The denoiser itself: mean PSNR {_mean(r['psnr_vs_input'] for r in rs):.2f} dB "
                     "vs the clean crops.)")
    return lines
