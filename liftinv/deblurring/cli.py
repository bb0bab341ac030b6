"""Command-line front ends of deblurring: ``liftinv deblur`` and ``liftinv train-deblur``.

Noise levels on the command line are on the 0-255 scale.  Heavy imports happen inside the run
functions so that ``liftinv --help`` stays fast.
"""

from __future__ import annotations

import argparse

from ..restoration import arguments

#: Training defaults of the unrolled deblurring network.  With lam 1 (the denoisers' choice) the
#: lifted run collapsed after ~800 steps in the demo; 10 stayed stable (docs/results.md, Deblurring).
#: The blur maps' power iterations cost ~20% of a step, hence step sizes refreshed every 10 steps.
TRAIN_DEFAULTS = {"trainer": "lifted", "batch_size": 16, "lr": 2e-3, "lam": 10.0, "patch": 40,
                  "lipschitz_every": 10}
DEFAULT_KERNEL = "gaussian:2.0"
KERNEL_HELP = f"blur kernel: gaussian:STD, box:SIZE or motion:LENGTH:ANGLE (default {DEFAULT_KERNEL})"
METHODS = ("auto", "wiener", "tv", "rl")


def add_kernel_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernel", default=None, help=KERNEL_HELP)
    p.add_argument("--kernel-file", default=None, help="blur kernel as a .npy array or a grayscale image")


def kernel_from_args(args, default: str | None = DEFAULT_KERNEL):
    """The kernel of ``--kernel`` / ``--kernel-file``; ``default`` when neither is given."""
    from .physics import load_kernel_file, parse_kernel

    if args.kernel is not None and args.kernel_file is not None:
        raise ValueError("give --kernel or --kernel-file, not both")
    if args.kernel_file is not None:
        return load_kernel_file(args.kernel_file)
    spec = args.kernel or default
    return None if spec is None else parse_kernel(spec)


# -- liftinv deblur -----------------------------------------------------------------------------
def configure_deblur(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="blurred image (PNG, JPEG or TIFF; grayscale)")
    p.add_argument("-o", "--output", required=True, help="where to write the restored image")
    add_kernel_arguments(p)
    p.add_argument("--checkpoint", default=None,
                   help="an unrolled net from `liftinv train-deblur` (its own kernel unless --kernel is "
                        "given), or a denoiser from `liftinv train` (used in PnP-HQS); without it, --method")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="without a checkpoint: wiener (default), tv or rl")
    p.add_argument("--sigma", type=float, default=2.55, help="noise std on the 0-255 scale (default 2.55 = 1%%)")
    p.add_argument("--clean", default=None, help="clean reference: report PSNR and SSIM")
    arguments.add_device_argument(p)


def run_deblur(args: argparse.Namespace) -> int:
    import torch

    from ..data import load_image, save_image
    from ..restoration import load_network, report_against_clean, restore_images
    from .classical import richardson_lucy, tv_deconvolve, wiener_deconvolve
    from .physics import check_kernel_fits
    from .pnp import pnp_hqs

    y = load_image(args.input)
    sigma = args.sigma / 255
    net, ckpt = load_network(args.checkpoint, args.device) if args.checkpoint is not None else (None, None)
    unrolled = ckpt is not None and ckpt["arch"]["name"] == "unrolled-deblur"
    kernel = kernel_from_args(args, default=None if unrolled else DEFAULT_KERNEL)
    if unrolled and kernel is None:
        kernel = torch.tensor(ckpt["arch"]["kernel"])
    check_kernel_fits(kernel, y.shape, f"input image {args.input!r}")
    if ckpt is not None and ckpt["arch"]["channels"] != y.shape[0]:
        raise ValueError(f"the checkpoint expects {ckpt['arch']['channels']} channel(s) but {args.input!r} "
                         f"has {y.shape[0]}")
    if unrolled:
        net.set_kernel(kernel)
        x = restore_images(net, [y])[0]
        how = f"unrolled net ({ckpt['config']['trainer']})"
    elif net is not None:
        x = pnp_hqs(y, kernel, sigma, net, ckpt["task"]["sigma"])
        how = f"PnP-HQS with {ckpt['arch']['name']}"
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
    add_kernel_arguments(p)
    p.add_argument("--sigma", type=float, default=2.55, help="noise std on the 0-255 scale (default 2.55 = 1%%)")
    p.add_argument("--iters", type=int, default=6, help="unrolled iterations K (default 6)")
    p.add_argument("--features", type=int, default=16, help="channels F (default 16)")
    p.add_argument("--data-step", choices=("proximal", "gradient"), default="proximal")
    arguments.add_training_arguments(p, TRAIN_DEFAULTS)


def run_train_deblur(args: argparse.Namespace) -> int:
    from .models import default_deblur_arch
    from .task import describe

    kernel = kernel_from_args(args)
    images, _ = arguments.load_split(args.data, "train", args.color)
    config = arguments.config_from_args(args)
    arch = default_deblur_arch(kernel, int(images[0].shape[0]), config.patch, args.iters, args.features,
                               args.data_step)
    return arguments.run_training_command(args, arch=arch, task=describe(kernel, args.sigma / 255), images=images)
