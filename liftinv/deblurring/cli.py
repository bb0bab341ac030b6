"""Command-line front ends of deblurring: ``liftinv deblur`` and ``liftinv train-deblur``.

Noise levels on the command line are on the 0-255 scale.  Heavy imports happen inside the run
functions so that ``liftinv --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..restoration import arguments
from ..utils.checks import OptionError

#: Training defaults of the unrolled deblurring network.  With lam 1 (the denoisers' choice) the
#: lifted run collapsed after ~800 steps in the demo; 10 stayed stable (docs/results.md, Deblurring).
#: The blur maps' power iterations cost ~20% of a step, hence step sizes refreshed every 10 steps.
TRAIN_DEFAULTS = {"trainer": "lifted", "batch_size": 16, "lr": 2e-3, "lam": 10.0, "patch": 40,
                  "lipschitz_every": 10}
DEFAULT_KERNEL = "gaussian:2.0"
#: the default noise level of `liftinv deblur`, on the 0-255 scale (1%)
DEFAULT_SIGMA = 2.55
KERNEL_HELP = (f"blur kernel: gaussian:STD, box:SIZE or motion:LENGTH[:ANGLE] (degrees, default 0) "
               f"(default {DEFAULT_KERNEL})")
METHODS = ("auto", "pnp", "wiener", "tv", "rl")
DATA_STEP_HELP = ("the data step of every unrolled iteration: proximal (the data term's proximal step, in Fourier, "
                  "with a learned weight mu) or gradient (a step of size 1/||A||^2 on (1/2)||Ax - y||^2) "
                  "(default proximal)")


def kernel_spec(text: str) -> str:
    """argparse type of ``--kernel``: a named kernel is built once here, so that a bad one is an
    option error (exit 2) before anything runs; a file path is checked when it is read."""
    from .physics import KERNEL_FILE_EXTENSIONS, parse_kernel

    if Path(text).exists() or Path(text).suffix.lower() in KERNEL_FILE_EXTENSIONS:
        return text
    try:
        parse_kernel(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_kernel_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernel", type=kernel_spec, default=None, help=KERNEL_HELP)
    p.add_argument("--kernel-file", default=None, help="blur kernel as a .npy array or a grayscale image")


def kernel_from_args(args, default: str | None = DEFAULT_KERNEL):
    """The kernel of ``--kernel`` / ``--kernel-file``; ``default`` when neither is given."""
    from .physics import load_kernel_file, parse_kernel

    if args.kernel is not None and args.kernel_file is not None:
        raise OptionError("give --kernel or --kernel-file, not both")
    if args.kernel_file is not None:
        return load_kernel_file(args.kernel_file)
    spec = args.kernel or default
    return None if spec is None else parse_kernel(spec)


#: the Wiener balance of ``liftinv deblur`` without a checkpoint, times the noise std (0-1 scale):
#: chosen on 256x256 crops of the embedded *training* images over 5 kernels (gaussian:1/2/3, box:4,
#: motion:9:30) and 5 noise levels (1 to 25.5 on the 0-255 scale) among 1, 1.5, 2, 3, 4 and 6: 0.25 dB
#: below the best of those per case on average (1: 0.54, 2: 0.35); the rule it replaces,
#: sigma^2 / 0.05, was 8.8 dB below 3 sigma at 1/255 noise (gaussian:1) and, at 1% noise, below the
#: blurred input for 3 of the 4 kernels gaussian:1/2, box:4, motion:9:30
WIENER_BALANCE = 1.5
#: the TV deconvolution weight of ``liftinv deblur --method tv``, times the noise std
TV_WEIGHT = 0.2


# -- liftinv deblur -----------------------------------------------------------------------------
def configure_deblur(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="blurred image (PNG, JPEG or TIFF; grayscale or colour)")
    p.add_argument("-o", "--output", required=True, help="where to write the restored image (.png, .jpg or .tif)")
    add_kernel_arguments(p)
    p.add_argument("--checkpoint", default=None,
                   help="an unrolled net from `liftinv train-deblur` (its own kernel unless --kernel is "
                        "given), or a denoiser from `liftinv train` (used in PnP-HQS); without it, --method")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="without a checkpoint: pnp (PnP-HQS with the shipped denoisers, DPIR schedule; "
                        f"what auto, the default, runs), wiener (balance {WIENER_BALANCE:g} sigma), tv or rl")
    p.add_argument("--sigma", type=arguments.noise_std(), default=DEFAULT_SIGMA,
                   help="noise std on the 0-255 scale (default 2.55 = 1%%)")
    p.add_argument("--clean", default=None, help="clean reference: report PSNR and SSIM")
    arguments.add_device_argument(p)


def run_deblur(args: argparse.Namespace) -> int:
    import torch

    from ..checkpoint import require_task
    from ..data import save_image
    from ..restoration import report_against_clean, restore_images
    from ..restoration.evaluation import load_reference
    from .classical import richardson_lucy, tv_deconvolve, wiener_deconvolve
    from .physics import check_kernel_fits, normalise_kernel
    from .pnp import QUANTISATION_SIGMA, pnp_dpir, pnp_hqs

    arguments.check_image_output(args)
    sigma = args.sigma / 255
    net, ckpt = arguments.load_trained(args.checkpoint, args.device) if args.checkpoint is not None else (None, None)
    unrolled = ckpt is not None and ckpt["arch"]["name"] == "unrolled-deblur"
    if ckpt is not None and not unrolled:  # any other network is the denoiser of PnP-HQS
        require_task(ckpt, args.checkpoint, "denoising",
                     wanted="an unrolled deblurring network or a denoiser (for PnP-HQS)")
    kernel = kernel_from_args(args, default=None if unrolled else DEFAULT_KERNEL)
    if unrolled and kernel is None:
        kernel = normalise_kernel(torch.tensor(ckpt["arch"]["kernel"]), f"the kernel of {args.checkpoint!r}")
    y = arguments.load_input_image(args.input, None if ckpt is None else ckpt["arch"]["channels"])
    check_kernel_fits(kernel, y.shape, f"input image {args.input!r}")
    ref = None if args.clean is None else load_reference(args.clean, y)
    if ckpt is not None and args.method != "auto":
        print(f"note: --method {args.method} is ignored: --checkpoint {args.checkpoint} restores with "
              f"{'the unrolled net' if unrolled else 'PnP-HQS'}")
    if unrolled and args.sigma != DEFAULT_SIGMA:
        trained = ckpt["task"].get("sigma") if isinstance(ckpt.get("task"), dict) else None
        at = f" (trained at sigma {trained * 255:.3g}/255)" if isinstance(trained, (int, float)) else ""
        print(f"note: --sigma {args.sigma:g} is ignored: the unrolled net has its noise level built in{at}")
    if unrolled:
        net.set_kernel(kernel)
        x = restore_images(net, [y])[0]
        how = f"unrolled net ({(ckpt.get('config') or {}).get('trainer', 'trained')})"
    elif net is not None:
        if not (isinstance(ckpt["task"].get("sigma"), (int, float)) and ckpt["task"]["sigma"] > 0):
            raise ValueError(f"--checkpoint {args.checkpoint!r}: PnP-HQS needs a denoiser trained at a noise level "
                             f"> 0, this one was trained for {ckpt['task']}")
        if sigma < QUANTISATION_SIGMA:
            print(f"note: --sigma {args.sigma:g} is below the rounding noise of an 8-bit image; PnP-HQS "
                  f"weighs the data as if sigma were {QUANTISATION_SIGMA * 255:.2f}")
        x = pnp_hqs(y, kernel, sigma, net, ckpt["task"]["sigma"])
        how = f"PnP-HQS with {ckpt['arch']['name']}"
    else:
        # auto: PnP, the best of the four in each of the 24 cases (4 kernels, sigma 1 to 25.5) of
        # benchmarks/deblur_default.py on the training images, by 0.6 to 3.4 dB
        method = "pnp" if args.method == "auto" else args.method
        if method == "pnp":
            from ..utils.checks import resolve_device

            x = pnp_dpir(y.to(resolve_device(args.device, "--device")), kernel, sigma)
            how = "pnp: PnP-HQS with the shipped denoisers, DPIR schedule"
        else:
            if method == "wiener":
                x = wiener_deconvolve(y, kernel, WIENER_BALANCE * max(sigma, 1e-3))
            elif method == "tv":
                x = tv_deconvolve(y, kernel, TV_WEIGHT * max(sigma, 1e-3))
            else:
                x = richardson_lucy(y, kernel, 20)
            how = method
    save_image(args.output, x)
    print(f"deblurred {args.input} -> {args.output} ({how}, kernel {tuple(kernel.shape)})")
    if ref is not None:
        report_against_clean(ref, y.clamp(0, 1), x)
    return 0


# -- liftinv train-deblur -----------------------------------------------------------------------
def configure_train_deblur(p: argparse.ArgumentParser) -> None:
    add_kernel_arguments(p)
    p.add_argument("--sigma", type=arguments.noise_std(), default=DEFAULT_SIGMA,
                   help="noise std on the 0-255 scale (default 2.55 = 1%%)")
    p.add_argument("--iters", type=arguments.positive_int, default=6, help="unrolled iterations K (default 6)")
    p.add_argument("--features", type=arguments.positive_int, default=16, help="channels F (default 16)")
    p.add_argument("--data-step", choices=("proximal", "gradient"), default="proximal", help=DATA_STEP_HELP)
    arguments.add_training_arguments(p, TRAIN_DEFAULTS)


def run_train_deblur(args: argparse.Namespace) -> int:
    from .models import default_deblur_arch
    from .task import describe

    kernel = kernel_from_args(args)
    config = arguments.config_from_args(args)
    arch = default_deblur_arch(kernel, 3 if args.color else 1, config.patch, args.iters, args.features,
                               args.data_step)
    return arguments.run_training_command(args, arch=arch, task=describe(kernel, args.sigma / 255))
