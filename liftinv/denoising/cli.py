"""Command-line front ends of the denoising pipeline: ``train``, ``denoise``, ``bench denoise``.

Noise levels on the command line are on the 0-255 scale (``--sigma 25`` means
25/255 on the [0, 1] scale the Python API uses).  Heavy imports happen inside the
run functions so that ``liftinv --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

DEVICE_HELP = "cpu or cuda (default: cuda when available, else cpu)"


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="embedded",
                        help="'embedded' (scikit-image pictures, the default) or a folder of images "
                             "(flat, or BSDS500-style with train/ and test/)")
    parser.add_argument("--color", action="store_true", help="train and test in colour (3 channels)")


def load_split(data: str, split: str, color: bool):
    """Images of a split from the embedded set or a user folder, with their names."""
    from ..data import embedded_names, list_image_files, load_embedded, load_folder

    if data == "embedded":
        return load_embedded(split, color=color), embedded_names(split, color)
    try:
        return load_folder(data, color=color, split=split), [f.stem for f in list_image_files(data, split)]
    except (FileNotFoundError, ValueError):
        if split == "test":  # a flat folder: train and test on the same images would be a leak
            raise
        return load_folder(data, color=color), [f.stem for f in list_image_files(data)]


def load_train_test(args: argparse.Namespace):
    """``(train images, test images, test names)`` from ``--data`` and ``--color``."""
    train, _ = load_split(args.data, "train", args.color)
    test, names = load_split(args.data, "test", args.color)
    return train, test, names


# -- liftinv train ------------------------------------------------------------------------------
#: Kept here (not imported from models/training) so that ``--help`` does not import torch;
#: tests/test_denoising_cli.py checks they match ``models.DENOISERS`` and ``training.TRAINERS``.
DENOISERS = ("dfb", "dfb-inertial", "dncnn")
TRAINERS = ("lifted", "isgm", "backprop")


def configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=DENOISERS, default="dfb", help="network to train (default dfb)")
    p.add_argument("--trainer", choices=TRAINERS, default="lifted",
                   help="lifted (Bregman BCD), isgm, or backprop (Adam); default lifted")
    p.add_argument("--sigma", type=float, default=25.0, help="noise std on the 0-255 scale (default 25)")
    _data_arguments(p)
    p.add_argument("--budget", type=float, default=None, help="training seconds (wall clock)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs")
    p.add_argument("--depth", type=int, default=None, help="layers K (dfb) or depth (dncnn)")
    p.add_argument("--features", type=int, default=None, help="channels F")
    p.add_argument("--patch", type=int, default=40, help="training patch size (default 40)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (weights)")
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help="checkpoint file to write (atomically, every epoch)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --output")
    p.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes (gloo on CPU, one GPU each with NCCL); each trains "
                        "on its shard with batch-size/nproc patches per step (default 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per process (default: all cores with --nproc 1, else 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _train_worker(kwargs: dict, output: str) -> None:
    """One data-parallel training process (module level, so that it can be spawned)."""
    from ..distributed import rank
    from .training import train_denoiser

    _net, hist = train_denoiser(**kwargs)
    if rank() == 0:
        _report_training(kwargs, hist, output)


def _report_training(kwargs: dict, hist, output: str) -> None:
    final = hist.final
    print(f"trained {kwargs['model']} with {kwargs['trainer']} for {final.get('seconds', 0):.0f} s "
          f"({final.get('iterations', 0)} steps); checkpoint: {output}")


def run_train(args: argparse.Namespace) -> int:
    from .models import default_arch

    if args.budget is None and args.epochs is None:
        raise ValueError("give --budget SECONDS or --epochs N")
    images, _ = load_split(args.data, "train", args.color)
    arch = default_arch(args.model, int(images[0].shape[0]), args.patch, args.depth, args.features)
    kwargs = dict(
        model=args.model, trainer=args.trainer, sigma=args.sigma / 255, images=images, arch=arch,
        patch=args.patch, budget=args.budget, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        device=args.device, seed=args.seed, checkpoint=args.output, resume=args.resume,
        progress=not args.no_progress,
    )
    if args.nproc < 1 or args.batch_size % args.nproc:
        raise ValueError(f"--batch-size {args.batch_size} must be a multiple of --nproc {args.nproc} >= 1")
    if args.nproc > 1:
        from ..distributed import launch

        launch(_train_worker, args.nproc, kwargs, args.output, threads=args.threads or 1)
        return 0
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from ..distributed import init_from_env

    init_from_env()  # under torchrun: join its process group (WORLD_SIZE, RANK, MASTER_ADDR ...)
    _train_worker(kwargs, args.output)
    return 0


# -- liftinv denoise ----------------------------------------------------------------------------
def configure_denoise(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="noisy image (PNG, JPEG or TIFF; grayscale or colour)")
    p.add_argument("-o", "--output", required=True, help="where to write the denoised image")
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by `liftinv train`")
    p.add_argument("--clean", default=None, help="clean reference: report PSNR and SSIM")
    p.add_argument("--device", default=None, help=DEVICE_HELP)


def run_denoise(args: argparse.Namespace) -> int:
    import torch

    from ..checkpoint import load_checkpoint, load_weights
    from ..data import load_image, save_image
    from ..utils.checks import resolve_device
    from .models import build_denoiser

    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.checkpoint, map_location=device)
    arch = ckpt["arch"]
    net = build_denoiser(arch).to(device)
    load_weights(net, arch, ckpt)
    z = load_image(args.input, color=arch["channels"] == 3)
    with torch.no_grad():
        net.eval()
        x = net(z[None].to(device))[0].clamp(0, 1).cpu()
    save_image(args.output, x)
    print(f"denoised {args.input} -> {args.output} "
          f"({arch['name']}, trained at sigma {ckpt['settings']['sigma'] * 255:.0f}/255)")
    if args.clean is not None:
        report_against_clean(args.clean, z, x)
    return 0


def report_against_clean(clean: str, degraded, restored) -> None:
    """Print the PSNR and SSIM of the degraded input and of the restored image against the
    reference image file ``clean`` (same shape as the input, else a clear error)."""
    from ..data import load_image
    from ..metrics import SSIM_CONVENTION, psnr, ssim

    ref = load_image(clean, color=degraded.shape[0] == 3)
    if ref.shape != degraded.shape:
        raise ValueError(f"--clean has shape {tuple(ref.shape)} but the input has {tuple(degraded.shape)}")
    print(f"PSNR input {float(psnr(degraded, ref)):.2f} dB -> output {float(psnr(restored, ref)):.2f} dB; "
          f"SSIM {float(ssim(degraded, ref)):.3f} -> {float(ssim(restored, ref)):.3f} ({SSIM_CONVENTION})")


# -- liftinv bench denoise ----------------------------------------------------------------------
def configure_bench_denoise(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sigmas", type=float, nargs="+", default=[15, 25, 50], help="0-255 scale")
    p.add_argument("--budget", type=float, default=600.0, help="seconds per trained method at --main-sigma")
    p.add_argument("--other-budget", type=float, default=None, help="seconds at the other sigmas")
    p.add_argument("--main-sigma", type=float, default=25.0)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--features", type=int, default=32)
    _data_arguments(p)
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("-o", "--out", default="results/bench_denoise", help="output folder")
    p.add_argument("--max-patches", type=int, default=None, help="subsample the training patches")
    p.add_argument("--no-progress", action="store_true")


def run_bench_denoise(args: argparse.Namespace) -> int:
    from .bench import run_denoise_benchmark

    train, test, names = load_train_test(args)
    report = run_denoise_benchmark(
        sigmas=args.sigmas, budget=args.budget, other_budget=args.other_budget, main_sigma=args.main_sigma,
        depth=args.depth, features=args.features, train_images=train, test_images=test, test_names=names,
        device=args.device, out=args.out, progress=not args.no_progress, max_patches=args.max_patches,
        command="liftinv " + " ".join(sys.argv[1:]),
    )
    print(open(f"{args.out}/denoise.md").read())
    print(f"wrote {args.out}/denoise.json, denoise.md and the figures ({len(report['records'])} records)")
    return 0
