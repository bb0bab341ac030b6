"""Command-line front ends: ``deblur``, ``train-deblur`` and ``bench deblur``.

Noise levels on the command line are on the 0-255 scale. Heavy imports happen inside the run
functions so that ``liftinv --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

#: Kept here so that ``--help`` imports no torch; equal to ``training.DEFAULT_LAM`` (tested).
DEFAULT_LAM = 10.0

from ..denoising.cli import DEVICE_HELP, _data_arguments, load_split, load_train_test, report_against_clean

KERNEL_HELP = "blur kernel: gaussian:STD, box:SIZE or motion:LENGTH:ANGLE (default gaussian:2.0)"
METHODS = ("auto", "wiener", "tv", "rl")


def _kernel_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernel", default=None, help=KERNEL_HELP)
    p.add_argument("--kernel-file", default=None, help="blur kernel as a .npy array or a grayscale image")


def _kernel(args):
    from .physics import load_kernel_file, parse_kernel

    if args.kernel is not None and args.kernel_file is not None:
        raise ValueError("give --kernel or --kernel-file, not both")
    if args.kernel_file is not None:
        return load_kernel_file(args.kernel_file)
    return parse_kernel(args.kernel or "gaussian:2.0")


def _lam(text: str):
    if text == "balanced":
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--lam: expected a number or 'balanced', got {text!r}") from None


# -- liftinv deblur -----------------------------------------------------------------------------
def configure_deblur(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="blurred image (PNG, JPEG or TIFF; grayscale)")
    p.add_argument("-o", "--output", required=True, help="where to write the restored image")
    _kernel_arguments(p)
    p.add_argument("--checkpoint", default=None,
                   help="an unrolled net from `liftinv train-deblur`, or a denoiser from `liftinv train` "
                        "(used in PnP-HQS); without it, --method")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="without a checkpoint: wiener (default), tv or rl")
    p.add_argument("--sigma", type=float, default=2.55, help="noise std on the 0-255 scale (default 2.55 = 1%%)")
    p.add_argument("--clean", default=None, help="clean reference: report PSNR and SSIM")
    p.add_argument("--device", default=None, help=DEVICE_HELP)


def run_deblur(args: argparse.Namespace) -> int:
    from ..checkpoint import load_checkpoint, load_weights
    from ..data import load_image, save_image
    from ..utils.checks import resolve_device
    from .classical import richardson_lucy, tv_deconvolve, wiener_deconvolve
    from .physics import check_kernel_fits
    from .training import deblur_images

    device = resolve_device(args.device)
    kernel = _kernel(args)
    y = load_image(args.input)
    check_kernel_fits(kernel, y.shape, f"input image {args.input!r}")
    sigma = args.sigma / 255
    if args.checkpoint is not None:
        ckpt = load_checkpoint(args.checkpoint, map_location=device)
        arch = ckpt["arch"]
        if arch["channels"] != y.shape[0]:
            raise ValueError(f"the checkpoint expects {arch['channels']} channel(s) but {args.input!r} has "
                             f"{y.shape[0]}")
        if arch.get("name") == "unrolled-deblur":
            from .models import build_deblurrer

            net = build_deblurrer(arch).to(device)
            load_weights(net, arch, ckpt)
            net.set_kernel(kernel)
            x = deblur_images(net, [y])[0]
            how = f"unrolled net ({ckpt['settings']['trainer']})"
        else:
            from ..denoising.models import build_denoiser
            from .pnp import pnp_hqs

            net = build_denoiser(arch).to(device)
            load_weights(net, arch, ckpt)
            x = pnp_hqs(y, kernel, sigma, net, ckpt["settings"]["sigma"])
            how = f"PnP-HQS with {arch['name']}"
    else:
        method = "wiener" if args.method == "auto" else args.method
        if method == "wiener":  # documented rule: balance = sigma^2 / 0.05 (noise-to-signal ratio)
            x = wiener_deconvolve(y, kernel, max(sigma, 1e-3) ** 2 / 0.05)
        elif method == "tv":
            x = tv_deconvolve(y, kernel, max(sigma, 1e-3) * 0.2)
        else:
            x = richardson_lucy(y, kernel, 20)
        how = method
    save_image(args.output, x)
    print(f"deblurred {args.input} -> {args.output} ({how}, kernel {tuple(kernel.shape)})")
    if args.clean is not None:
        report_against_clean(args.clean, y.clamp(0, 1), x)
    return 0


# -- liftinv train-deblur -----------------------------------------------------------------------
def configure_train_deblur(p: argparse.ArgumentParser) -> None:
    _kernel_arguments(p)
    p.add_argument("--trainer", choices=("lifted", "isgm", "backprop"), default="lifted")
    p.add_argument("--sigma", type=float, default=2.55, help="noise std on the 0-255 scale")
    _data_arguments(p)
    p.add_argument("--budget", type=float, default=None, help="training seconds (wall clock)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--iters", type=int, default=6, help="unrolled iterations K")
    p.add_argument("--features", type=int, default=16)
    p.add_argument("--data-step", choices=("proximal", "gradient"), default="proximal")
    p.add_argument("--lam", default=str(DEFAULT_LAM), help=f"lifted penalty weight: a number or 'balanced' (default {DEFAULT_LAM:g})")
    p.add_argument("--patch", type=int, default=40)
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("-o", "--output", required=True, help="checkpoint file")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def run_train_deblur(args: argparse.Namespace) -> int:
    from .models import default_deblur_arch
    from .training import train_deblurrer

    if args.budget is None and args.epochs is None:
        raise ValueError("give --budget SECONDS or --epochs N")
    kernel = _kernel(args)
    images, _ = load_split(args.data, "train", args.color)
    arch = default_deblur_arch(kernel, int(images[0].shape[0]), args.patch, args.iters, args.features, args.data_step)
    _, hist = train_deblurrer(kernel, args.trainer, sigma=args.sigma / 255, images=images, arch=arch,
                              patch=args.patch, budget=args.budget, epochs=args.epochs, device=args.device, lam=_lam(args.lam),
                              checkpoint=args.output, resume=args.resume, progress=not args.no_progress)
    print(f"trained the unrolled deblurring net with {args.trainer} for {hist.final.get('seconds', 0):.0f} s; "
          f"checkpoint: {args.output}")
    return 0


# -- liftinv bench deblur -----------------------------------------------------------------------
def configure_bench_deblur(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernels", nargs="+", default=["gaussian:2.0", "motion:9:30"])
    p.add_argument("--sigmas", type=float, nargs="+", default=[2.55, 12.75], help="0-255 scale (1%% and 5%%)")
    p.add_argument("--budget", type=float, default=120.0, help="seconds per unrolled net and setting")
    p.add_argument("--denoiser-budget", type=float, default=60.0, help="seconds per PnP denoiser")
    p.add_argument("--denoiser-sigma", type=float, default=10.0)
    p.add_argument("--iters", type=int, default=6)
    p.add_argument("--features", type=int, default=16)
    p.add_argument("--data-step", choices=("proximal", "gradient"), default="proximal")
    p.add_argument("--lam", default=str(DEFAULT_LAM), help=f"lifted penalty weight: a number or 'balanced' (default {DEFAULT_LAM:g})")
    p.add_argument("--crop", type=int, default=None, help="crop test images to CROP x CROP (top-left)")
    _data_arguments(p)
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("-o", "--out", default="results/bench_deblur")
    p.add_argument("--max-patches", type=int, default=3000)
    p.add_argument("--no-progress", action="store_true")


def run_bench_deblur(args: argparse.Namespace) -> int:
    from .bench import run_deblur_benchmark

    train, test, names = load_train_test(args)
    report = run_deblur_benchmark(
        kernels=args.kernels, sigmas=args.sigmas, budget=args.budget, denoiser_budget=args.denoiser_budget,
        denoiser_sigma=args.denoiser_sigma, iters=args.iters, lam=_lam(args.lam), features=args.features, data_step=args.data_step,
        train_images=train, test_images=test, test_names=names, crop=args.crop, device=args.device, out=args.out,
        progress=not args.no_progress, max_patches=args.max_patches, command="liftinv " + " ".join(sys.argv[1:]))
    print(open(f"{args.out}/deblur.md").read())
    print(f"wrote {args.out}/deblur.json, deblur.md and the figures ({len(report['records'])} records)")
    return 0
