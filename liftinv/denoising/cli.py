"""Command-line front ends of denoising: ``liftinv train`` and ``liftinv denoise``.

``liftinv denoise IN -o OUT --sigma 25`` uses the shipped denoisers (:mod:`liftinv.pretrained`,
grayscale or colour from the image) unless ``--checkpoint`` names one; inference runs through
:func:`~liftinv.denoising.tiling.denoise_tiled` (``--tile N``, automatic by default, 0: whole image)
inside a self-ensemble over flips and quarter turns (:mod:`.ensemble`, ``--ensemble N``, default 8).

Noise levels on the command line are on the 0-255 scale (``--sigma 25`` means 25/255 on the
[0, 1] scale of the Python API).  Heavy imports happen inside the run functions so that
``liftinv --help`` stays fast.
"""

from __future__ import annotations

import argparse

from ..restoration import arguments
from ..utils.checks import OptionError

#: Kept here (not imported from .models) so that ``--help`` does not import torch;
#: tests/test_denoising.py checks they match ``models.DENOISERS`` and ``task.TRAIN_DEFAULTS``.
DENOISERS = ("dfb", "dfb-inertial", "sccp", "dncnn")
TRAIN_DEFAULTS = {"trainer": "lifted", "batch_size": 32, "lr": 1e-3, "lam": 1.0, "patch": 40}
ENSEMBLE_SIZES = (1, 2, 4, 8)  # ensemble.ENSEMBLE_SIZES


# -- liftinv train ------------------------------------------------------------------------------
def configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=DENOISERS, default="dfb", help="network to train (default dfb)")
    p.add_argument("--sigma", type=arguments.noise_std(strict=True), default=25.0,
                   help="noise std on the 0-255 scale, above 0 (default 25)")
    p.add_argument("--depth", type=arguments.positive_int, default=None, help="layers K (dfb) or depth (dncnn)")
    p.add_argument("--features", type=arguments.positive_int, default=None, help="channels F")
    p.add_argument("--nu", type=arguments.positive_float, default=None,
                   help="initial threshold (dfb) or dual box radius (sccp) nu (default 0.05 dfb, 0.01 sccp)")
    arguments.add_training_arguments(p, TRAIN_DEFAULTS)


def run_train(args: argparse.Namespace) -> int:
    from .models import default_arch
    from .task import describe

    config = arguments.config_from_args(args)
    arch = default_arch(args.model, 3 if args.color else 1, config.patch, args.depth, args.features)
    if args.nu is not None:
        if "nu" not in arch:
            raise OptionError(f"--nu: the {args.model} network has no threshold nu; it applies to dfb and sccp")
        arch["nu"] = args.nu
    return arguments.run_training_command(args, arch=arch, task=describe(args.sigma / 255))


# -- liftinv denoise ----------------------------------------------------------------------------
def configure_denoise(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="noisy image (PNG, JPEG or TIFF; grayscale or colour)")
    p.add_argument("-o", "--output", required=True, help="where to write the denoised image (.png, .jpg or .tif)")
    p.add_argument("--sigma", type=arguments.noise_std(strict=True), default=None,
                   help="noise std on the 0-255 scale; without --checkpoint it picks the shipped denoiser "
                        "(grayscale or colour from the image; between trained levels the model below, "
                        "rescaled, with a note)")
    p.add_argument("--checkpoint", default=None,
                   help="a checkpoint written by `liftinv train` (default: the shipped weights for --sigma)")
    p.add_argument("--tile", type=tile_size, default=None,
                   help=f"denoise in overlapping tiles of N >= {MIN_TILE} pixels (bounded memory, no seams); "
                        "default: automatic (whole image when it fits 1 GiB), 0: no tiling")
    p.add_argument("--ensemble", type=int, choices=ENSEMBLE_SIZES, default=8,
                   help="average the denoiser over N flips/quarter turns of the image (self-ensemble; "
                        "default 8: about 0.1 dB better, 8x the time; 1: the network alone)")
    p.add_argument("--clean", default=None, help="clean reference: report PSNR and SSIM")
    arguments.add_device_argument(p)


#: the smallest explicit tile: each tile is run with a halo of the receptive radius (22 px for the
#: shipped models), so smaller ones cost many passes (a 181x247 image: 5 s at 64, 55 s at 4) for
#: the same result
MIN_TILE = 32


def tile_size(text: str) -> int:
    """argparse type of ``--tile``: 0 (no tiling) or an integer >= :data:`MIN_TILE`."""
    value = arguments.nonneg_int(text)
    if 0 < value < MIN_TILE:
        raise argparse.ArgumentTypeError(f"expected 0 (no tiling) or a tile of at least {MIN_TILE} pixels, "
                                         f"got {value}")
    return value


def tiled(net, tile: int | None):
    """``net`` as a module whose forward runs :func:`~liftinv.denoising.tiling.denoise_tiled` with
    ``tile`` (``None``: automatic; 0: ``net`` itself, untiled).  An explicit tile blends over at most
    half its side."""
    if tile == 0:
        return net
    import torch

    from .tiling import denoise_tiled

    class Tiled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, z):
            return denoise_tiled(self.net, z, tile=tile, overlap=32 if tile is None else min(32, tile // 2))

    return Tiled()


def _shipped(args: argparse.Namespace, channels: int):
    """``(network, checkpoint-like dict)`` of the shipped denoiser for ``--sigma`` and the image's
    channels; a sigma without its own model (the model below, rescaled) becomes a ``note:`` line."""
    import warnings

    from ..pretrained import pretrained

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net, info = pretrained(args.sigma, color=channels == 3, device=args.device)
    for w in caught:
        print(f"note: {w.message}")
    print(f"using the shipped weights {info['path']} ({info['summary']})")
    trained = info.get("trained_sigma", info["sigma"])  # a rescaled model: the level it was trained at
    return net, {"arch": info["arch"], "task": {"task": "denoising", "sigma": trained / 255}}


def run_denoise(args: argparse.Namespace) -> int:
    if args.checkpoint is None and args.sigma is None:  # before the imports: exit 2 at once
        raise OptionError("give --sigma (the noise level, 0-255 scale) to use the shipped denoisers, "
                          "or --checkpoint with a denoiser of your own")
    from ..checkpoint import require_task
    from ..data import load_image, save_image
    from ..restoration import report_against_clean, restore_images
    from ..restoration.evaluation import load_reference
    from ..utils.checks import resolve_device

    arguments.check_image_output(args)
    if args.checkpoint is None:
        resolve_device(args.device, "--device")
        z = load_image(args.input)  # its own channels pick the grayscale or the colour model
        net, ckpt = _shipped(args, z.shape[0])
    else:
        net, ckpt = arguments.load_trained(args.checkpoint, args.device)
        require_task(ckpt, args.checkpoint, "denoising")
        z = arguments.load_input_image(args.input, ckpt["arch"]["channels"])
    ref = None if args.clean is None else load_reference(args.clean, z)
    sigma = ckpt["task"].get("sigma")
    trained = f"trained at sigma {sigma * 255:.0f}/255" if isinstance(sigma, (int, float)) else "trained"
    if ckpt["arch"]["name"] == "opponent":  # the shipped grayscale models, on the opponent colour channels
        trained = f"grayscale models in the opponent colour space, for sigma {sigma * 255:.0f}/255"
    if args.checkpoint is not None and args.sigma is not None and isinstance(sigma, (int, float)) \
            and abs(sigma * 255 - args.sigma) > 1e-6:
        print(f"note: --sigma {args.sigma:g} is ignored: --checkpoint {args.checkpoint} was {trained}")
    from .ensemble import self_ensemble

    x = restore_images(self_ensemble(tiled(net, args.tile), args.ensemble), [z])[0]
    save_image(args.output, x)
    ensemble = f", self-ensemble of {args.ensemble}" if args.ensemble > 1 else ""
    print(f"denoised {args.input} -> {args.output} ({ckpt['arch']['name']}, {trained}{ensemble})")
    if ref is not None:
        report_against_clean(ref, z, x)
    return 0
