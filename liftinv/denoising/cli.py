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
DENOISERS = ("dfb", "dfb-inertial", "dncnn")
TRAIN_DEFAULTS = {"trainer": "lifted", "batch_size": 32, "lr": 1e-3, "lam": 1.0, "patch": 40}


# -- liftinv train ------------------------------------------------------------------------------
def configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=DENOISERS, default="dfb", help="network to train (default dfb)")
    p.add_argument("--sigma", type=float, default=25.0, help="noise std on the 0-255 scale (default 25)")
    p.add_argument("--depth", type=int, default=None, help="layers K (dfb) or depth (dncnn)")
    p.add_argument("--features", type=int, default=None, help="channels F")
    arguments.add_training_arguments(p, TRAIN_DEFAULTS)


def run_train(args: argparse.Namespace) -> int:
    from .models import default_arch
    from .task import describe

    images, _ = arguments.load_split(args.data, "train", args.color)
    config = arguments.config_from_args(args)
    arch = default_arch(args.model, int(images[0].shape[0]), config.patch, args.depth, args.features)
    return arguments.run_training_command(args, arch=arch, task=describe(args.sigma / 255), images=images)


# -- liftinv denoise ----------------------------------------------------------------------------
def configure_denoise(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="noisy image (PNG, JPEG or TIFF; grayscale or colour)")
    p.add_argument("-o", "--output", required=True, help="where to write the denoised image")
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by `liftinv train`")
    p.add_argument("--clean", default=None, help="clean reference: report PSNR and SSIM")
    arguments.add_device_argument(p)


def run_denoise(args: argparse.Namespace) -> int:
    from ..data import load_image, save_image
    from ..restoration import load_network, report_against_clean, restore_images

    net, ckpt = load_network(args.checkpoint, args.device)
    z = load_image(args.input, color=ckpt["arch"]["channels"] == 3)
    x = restore_images(net, [z])[0]
    save_image(args.output, x)
    print(f"denoised {args.input} -> {args.output} "
          f"({ckpt['arch']['name']}, trained at sigma {ckpt['task']['sigma'] * 255:.0f}/255)")
    if args.clean is not None:
        report_against_clean(args.clean, z, x)
    return 0
