"""Command-line front ends: ``liftinv invert`` and ``liftinv bench invert``.

Heavy imports happen inside the run functions so that ``liftinv --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

DEVICE_HELP = "cpu or cuda (default: cuda when available, else cpu)"
METHODS = ("lifted", "adam", "lbfgs")
REGULARISERS = ("tv", "tikhonov", "box", "none")


# -- liftinv invert -------------------------------------------------------------------------------
def configure_invert(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint of an autoencoder (liftinv bench invert writes one) or a DFB denoiser "
                        "(liftinv train)")
    p.add_argument("--layer", type=int, required=True, help="invert from the features of this layer (1..depth)")
    p.add_argument("--input", required=True, help="image whose layer-L features are computed and inverted")
    p.add_argument("-o", "--output", required=True, help="where to write the recovered image")
    p.add_argument("--noise", type=float, default=0.0, help="relative noise level added to the features")
    p.add_argument("--method", choices=METHODS, default="lifted")
    p.add_argument("--regulariser", choices=REGULARISERS, default="tv")
    p.add_argument("--alpha", type=float, default=1e-3, help="regularisation weight")
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--beta", type=float, default=0.95, help="inertia of the lifted block steps")
    p.add_argument("--lam", type=float, default=0.3, help="weight of the hidden-layer Bregman penalties")
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")


def load_network(ckpt: dict, image_shape, device):
    """The network of a checkpoint, sized for ``image_shape`` when fully convolutional;
    returns ``(network, tile_size or None)``."""
    from ..checkpoint import load_weights
    from ..denoising.models import build_denoiser
    from .autoencoder import build_autoencoder

    arch = ckpt["arch"]
    name = arch.get("name")
    if name == "autoencoder":
        net = build_autoencoder(arch)
        load_weights(net, arch, ckpt)
        return net.to(device), arch["patch"]
    if name in ("dfb", "dfb-inertial"):
        from ..models.dfb import DFBPNN

        build_denoiser(arch)  # validates the architecture
        net = DFBPNN(tuple(image_shape), depth=arch["depth"], features=arch["features"],
                     kernel_size=arch.get("kernel_size", 3), nu=arch.get("nu", 0.05), inertial=name == "dfb-inertial")
        net.load_state_dict(ckpt["state_dict"])
        net.refresh(n_iter=30)
        return net.to(device), None
    raise ValueError(f"cannot invert a {name!r} checkpoint: liftinv invert needs a lifted network "
                     "('autoencoder', 'dfb' or 'dfb-inertial')")


def run_invert(args: argparse.Namespace) -> int:
    import torch

    from ..checkpoint import load_checkpoint
    from ..data import load_image, save_image
    from ..metrics import SSIM_CONVENTION, psnr, ssim
    from ..utils.checks import resolve_device
    from .autoencoder import tile, untile
    from .convert import prefix_network
    from .experiments import noisy_code
    from .gradient import invert_gradient
    from .lifted import invert_lifted

    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.checkpoint, map_location=device)
    image = load_image(args.input, color=ckpt["arch"].get("channels", ckpt["arch"].get("in_channels", 1)) == 3)
    net, patch = load_network(ckpt, image.shape, device)
    if patch is not None:
        h, w = image.shape[-2] // patch * patch, image.shape[-1] // patch * patch
        if h == 0 or w == 0:
            raise ValueError(f"--input is {tuple(image.shape)}; the autoencoder needs at least {patch}x{patch}")
        image = image[:, :h, :w]
        x = tile(image, patch).to(device)
    else:
        x = image[None].to(device)
    sub = prefix_network(net, args.layer)
    with torch.no_grad():
        y = sub(x)
    if args.noise > 0:
        y = noisy_code(y, args.noise, args.seed)
    if args.method == "lifted":
        res = invert_lifted(sub, y, regulariser=args.regulariser, alpha=args.alpha, iters=args.iters,
                            beta=args.beta, lam=args.lam, x_true=x, progress=not args.no_progress)
    else:
        res = invert_gradient(sub, y, regulariser=args.regulariser, alpha=args.alpha, iters=args.iters,
                              method=args.method, x_true=x, progress=not args.no_progress)
    out = res.x.clamp(0, 1)
    rec = untile(out.cpu(), image.shape) if patch is not None else out[0].cpu()
    save_image(args.output, rec)
    f = res.final
    print(f"inverted layer {args.layer} of {ckpt['arch']['name']} ({args.method}, {args.iters} iterations, "
          f"{args.regulariser} alpha {args.alpha:g}, noise {args.noise:g}) -> {args.output}")
    print(f"PSNR {float(psnr(rec, image)):.2f} dB, SSIM {float(ssim(rec, image)):.3f} ({SSIM_CONVENTION}); "
          f"misfit {f.get('misfit', float('nan')):.3g}, violation {f.get('violation', 0.0):.3g}")
    return 0


# -- liftinv bench invert -------------------------------------------------------------------------
def configure_bench_invert(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", default="results/bench_invert", help="output folder")
    p.add_argument("--size", type=int, default=64, help="perceptron image side (default 64: 4096 -> 512)")
    p.add_argument("--m", type=int, default=512, help="perceptron outputs")
    p.add_argument("--perceptron-iters", type=int, default=2000)
    p.add_argument("--n-perceptron", type=int, default=3, help="test images used by the perceptron")
    p.add_argument("--alpha-per-delta", type=float, default=0.01, help="alpha = this x delta")
    p.add_argument("--ae-budget", type=float, default=60.0, help="autoencoder training seconds")
    p.add_argument("--ae-code", type=int, default=64, help="code size")
    p.add_argument("--crop", type=int, default=128, help="test crop side inverted tile by tile")
    p.add_argument("--levels", type=float, nargs="+", default=[0.01, 0.05, 0.1], help="relative code noise")
    p.add_argument("--ae-alpha", type=float, default=1e-4,
                   help="TV weight of the feature inversions (and of the autoencoder ones when --alpha-grid is given no value)")
    p.add_argument("--alpha-grid", type=float, nargs="*", default=[3e-5, 1e-4, 2e-4, 3e-4, 6e-4, 1e-3],
                   help="TV weights tried per (noise level, method) on a training crop (empty: use --ae-alpha)")
    p.add_argument("--iters", type=int, default=300, help="iteration budget of every inversion method")
    p.add_argument("--beta", type=float, default=0.95, help="inertia of the lifted block steps")
    p.add_argument("--lam", type=float, default=0.3, help="weight of the hidden-layer Bregman penalties")
    p.add_argument("--adam-lr", type=float, default=0.03, help="Adam's learning rate (gradient baseline)")
    p.add_argument("--dfb-budget", type=float, default=20.0, help="DFB-PNN denoiser training seconds")
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")


def run_bench_invert(args: argparse.Namespace) -> int:
    from ..data import embedded_names, load_embedded
    from .bench import run_invert_benchmark

    report = run_invert_benchmark(
        train_images=load_embedded("train"), test_images=load_embedded("test"), test_names=embedded_names("test"),
        out=args.out, device=args.device, size=args.size, m=args.m, perceptron_iters=args.perceptron_iters,
        n_perceptron=args.n_perceptron, alpha_per_delta=args.alpha_per_delta, ae_budget=args.ae_budget,
        ae_code=args.ae_code, crop=args.crop, levels=args.levels, ae_alpha=args.ae_alpha, iters=args.iters,
        alpha_grid=args.alpha_grid, lifted_beta=args.beta, lam=args.lam, adam_lr=args.adam_lr, dfb_budget=args.dfb_budget, seed=args.seed,
        progress=not args.no_progress,
        command="liftinv " + " ".join(sys.argv[1:]),
    )
    print(open(f"{args.out}/invert.md").read())
    print(f"wrote {args.out}/invert.json, invert.md, autoencoder.pt and the figures "
          f"({report['total_seconds']:.0f} s)")
    return 0
