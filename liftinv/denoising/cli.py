"""Command-line front ends of denoising: ``liftinv train`` and ``liftinv denoise``.

Noise levels on the command line are on the 0-255 scale (``--sigma 25`` means 25/255 on the
[0, 1] scale of the Python API).  Heavy imports happen inside the run functions so that
``liftinv --help`` stays fast.
"""

from __future__ import annotations

import argparse

from ..restoration import arguments

#: Kept here (not imported from .models) so that ``--help`` does not import torch;
#: tests/test_denoising.py checks they match ``models.DENOISERS`` and ``task.TRAIN_DEFAULTS``.
DENOISERS = ("dfb", "dfb-inertial", "sccp", "dncnn")
TRAIN_DEFAULTS = {"trainer": "lifted", "batch_size": 32, "lr": 1e-3, "lam": 1.0, "patch": 40}


# -- liftinv train ------------------------------------------------------------------------------
def configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=DENOISERS, default="dfb", help="network to train (default dfb)")
    p.add_argument("--sigma", type=arguments.nonneg_float, default=25.0,
                   help="noise std on the 0-255 scale (default 25)")
    p.add_argument("--depth", type=arguments.positive_int, default=None, help="layers K (dfb) or depth (dncnn)")
    p.add_argument("--features", type=arguments.positive_int, default=None, help="channels F")
    arguments.add_training_arguments(p, TRAIN_DEFAULTS)


def run_train(args: argparse.Namespace) -> int:
    from .models import default_arch
    from .task import describe

    config = arguments.config_from_args(args)
    arch = default_arch(args.model, 3 if args.color else 1, config.patch, args.depth, args.features)
    return arguments.run_training_command(args, arch=arch, task=describe(args.sigma / 255))


# -- liftinv denoise ----------------------------------------------------------------------------
def configure_denoise(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="noisy image (PNG, JPEG or TIFF; grayscale or colour)")
    p.add_argument("-o", "--output", required=True, help="where to write the denoised image (.png, .jpg or .tif)")
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by `liftinv train`")
    p.add_argument("--clean", default=None, help="clean reference: report PSNR and SSIM")
    arguments.add_device_argument(p)


def run_denoise(args: argparse.Namespace) -> int:
    from ..checkpoint import require
    from ..data import save_image
    from ..restoration import report_against_clean, restore_images
    from ..restoration.evaluation import load_reference

    arguments.check_image_output(args)
    net, ckpt = arguments.load_trained(args.checkpoint, args.device)
    require(ckpt, args.checkpoint, "task")
    z = arguments.load_input_image(args.input, ckpt["arch"]["channels"])
    ref = None if args.clean is None else load_reference(args.clean, z)
    x = restore_images(net, [z])[0]
    save_image(args.output, x)
    sigma = ckpt["task"].get("sigma")
    trained = f"trained at sigma {sigma * 255:.0f}/255" if isinstance(sigma, (int, float)) else "trained"
    print(f"denoised {args.input} -> {args.output} ({ckpt['arch']['name']}, {trained})")
    if ref is not None:
        report_against_clean(ref, z, x)
    return 0
