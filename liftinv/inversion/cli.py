"""Command-line front end: ``liftinv invert`` (the benchmark is ``liftinv bench invert``).

Heavy imports happen inside the run functions so that ``liftinv --help`` stays fast.
"""

from __future__ import annotations

import argparse

from ..restoration import arguments
from ..restoration.arguments import add_device_argument, add_progress_argument
from ..utils.checks import OptionError
from . import DEFAULT_ALPHA

METHODS = ("lifted", "adam", "lbfgs")
REGULARISERS = ("tv", "tikhonov", "box", "none")
#: the cap of --lam-growth for both lifted solvers (the library caps apg there and leaves bcd free)
LAM_MAX = 1e3


def module_spec(text: str) -> str:
    """argparse type of ``--module``: the form ``FILE.py:NAME`` (the file is read when the command runs)."""
    from .foreign import split_module_spec

    try:
        split_module_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--module ")) from None
    return text


def inertia(text: str) -> float:
    """argparse type of ``--beta``: a number in [0, 1)."""
    value = arguments.nonneg_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected an inertia 0 <= beta < 1, got {text}")
    return value


# -- liftinv invert -------------------------------------------------------------------------------
def configure_invert(p: argparse.ArgumentParser) -> None:
    net = p.add_mutually_exclusive_group(required=True)
    net.add_argument("--checkpoint",
                     help="checkpoint of an autoencoder (liftinv bench invert writes one) or a DFB denoiser "
                          "(liftinv train)")
    net.add_argument("--module", metavar="FILE.py:NAME", type=module_spec,
                     help="a network trained anywhere: NAME in your Python file is an nn.Module, its class or a "
                          "function building it; converted to a lifted network (affine maps, proximal "
                          "activations, sums, concatenations)")
    p.add_argument("--weights", help="with --module: a state_dict saved by torch.save(module.state_dict(), path)")
    p.add_argument("--layer", type=arguments.positive_int, default=None,
                   help="invert from the features of this layer (1..depth; required with --checkpoint, "
                        "default with --module: the whole network)")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--input", help="image whose layer-L features are computed and inverted")
    data.add_argument("--features", help="with --module: features to invert (torch.save'd tensor or .npy) of one "
                                         "input of shape --in-shape")
    p.add_argument("--in-shape", type=arguments.positive_int, nargs="+", metavar="N",
                   help="with --features: the shape of one input, e.g. 1 64 64 (channels, height, width)")
    p.add_argument("--clean", help="with --features: the true input image, to print PSNR and SSIM")
    p.add_argument("-o", "--output", required=True, help="where to write the recovered image (.png, .jpg or .tif)")
    p.add_argument("--noise", type=arguments.nonneg_float, default=0.0,
                   help="relative noise level added to the features (std = NOISE x their rms; default 0), "
                        "the noisy features projected onto the layer's output range")
    p.add_argument("--method", choices=METHODS, default="lifted",
                   help="lifted inversion (default), or the gradient baselines adam and lbfgs")
    p.add_argument("--regulariser", choices=REGULARISERS, default="tv", help="prior on the image (default tv)")
    p.add_argument("--alpha", type=arguments.nonneg_float, default=DEFAULT_ALPHA,
                   help=f"regularisation weight (default {DEFAULT_ALPHA:g}; raise it with the noise: the "
                        "benchmarks' weights tuned at 5%% code noise are 0.001-0.1)")
    p.add_argument("--iters", type=arguments.positive_int, default=None,
                   help="iteration budget (default: 1000 for lifted inversion, which stops earlier once its "
                        "objective has stopped falling; 300 for adam and lbfgs)")
    p.add_argument("--solver", choices=("apg", "bcd"), default="apg",
                   help="lifted solver: accelerated steps on all blocks (apg, default) or block coordinate descent")
    p.add_argument("--beta", type=inertia, default=0.0,
                   help="inertia of the lifted block steps (--solver bcd only; e.g. 0.95)")
    p.add_argument("--lam", type=arguments.positive_float, default=1.0,
                   help="weight of the hidden-layer Bregman penalties (the initial one with --lam-growth)")
    p.add_argument("--lam-growth", type=arguments.positive_float, default=1.0,
                   help=f"penalty continuation: lam grows by this factor per iteration, up to {LAM_MAX:g} "
                        "(default 1: none)")
    p.add_argument("--data-term", choices=("bregman", "lifted"), default="bregman",
                   help="lifted data term: the Bregman misfit of the output's pre-activation (bregman, default; "
                        "best for exact features) or the output activation lifted, a least-squares fit of y "
                        "(lifted; better with noisy features)")
    p.add_argument("--seed", type=arguments.nonneg_int, default=0, help="seed of the feature noise")
    add_device_argument(p)
    add_progress_argument(p)


def network_for_input(ckpt: dict, image_shape, device):
    """The network of a loaded checkpoint, sized for ``image_shape`` when fully convolutional
    (a lifted network's states have fixed shapes); returns ``(network, tile_size or None)``."""
    from ..checkpoint import load_weights
    from ..models import DFBPNN
    from ..restoration import build_network

    arch = ckpt["arch"]
    name = arch.get("name")
    if name == "autoencoder":
        net = build_network(arch, device=device)
        load_weights(net, arch, ckpt)
        return net, arch["patch"]
    if name in ("dfb", "dfb-inertial"):
        net = DFBPNN(tuple(image_shape), depth=arch["depth"], features=arch["features"],
                     kernel_size=arch.get("kernel_size", 3), nu=arch.get("nu", 0.05), inertial=name == "dfb-inertial")
        load_weights(net, arch, ckpt)  # the weights do not depend on the image size
        net.refresh(n_iter=30)
        return net.to(device), None
    raise ValueError(f"cannot invert a {name!r} checkpoint: liftinv invert needs a lifted network "
                     "('autoencoder', 'dfb' or 'dfb-inertial')")


def run_invert(args: argparse.Namespace) -> int:
    import torch

    from ..checkpoint import load_checkpoint
    from ..data import save_image
    from ..metrics import SSIM_CONVENTION, psnr, ssim
    from ..models import prefix_network
    from ..restoration.evaluation import SSIM_NA, has_ssim
    from ..utils.checks import resolve_device
    from .autoencoder import tile, untile
    from .gradient import invert_gradient
    from .lifted import invert_lifted
    from .noise import noisy_code

    arguments.check_image_output(args)
    check_invert_options(args)
    device = resolve_device(args.device, "--device")
    patch, image = None, None
    if args.module is not None:
        sub, x, y, name = _foreign(args, device)
        image = x[0].cpu() if x is not None else None
    else:
        ckpt = load_checkpoint(args.checkpoint, map_location=device)
        arch, name = ckpt["arch"], ckpt["arch"]["name"]
        channels = arch.get("in_channels", 1) if arch["name"] == "autoencoder" else arch.get("channels")
        image = arguments.load_input_image(args.input, channels if isinstance(channels, int) else None, "--input")
        with arguments.naming_checkpoint(args.checkpoint):
            net, patch = network_for_input(ckpt, image.shape, device)
        if patch is not None:
            h, w = image.shape[-2] // patch * patch, image.shape[-1] // patch * patch
            if h == 0 or w == 0:
                raise ValueError(f"--input is {tuple(image.shape)}; the autoencoder needs at least {patch}x{patch}")
            image = image[:, :h, :w]
            x = tile(image, patch).to(device)
        else:
            x = image[None].to(device)
        if not 1 <= args.layer <= net.depth:
            raise OptionError(f"--layer {args.layer}: the {name} network has {net.depth} layers (1..{net.depth})")
        sub = prefix_network(net, args.layer)
        with torch.no_grad():
            y = sub(x)
    shape = tuple(x.shape[1:]) if x is not None else tuple(args.in_shape)
    if args.regulariser == "tv" and (len(shape) != 3 or min(shape[-2:]) < 2):
        raise OptionError(f"--regulariser tv needs an input image of at least 2x2 pixels, and this one is shaped "
                          f"{shape}: use --regulariser tikhonov, box or none")
    if args.noise > 0:
        y = noisy_code(y, args.noise, args.seed, sub.activation(sub.depth))  # a possible output of that layer
    if args.iters is None:  # each method's own default budget
        args.iters = 1000 if args.method == "lifted" else 300
    if args.method == "lifted":
        res = invert_lifted(sub, y, regulariser=args.regulariser, alpha=args.alpha, iters=args.iters,
                            method=args.solver, beta=args.beta, lam=args.lam, lam_growth=args.lam_growth,
                            lam_max=LAM_MAX, data_term=args.data_term, x_true=x, progress=not args.no_progress)
    else:
        res = invert_gradient(sub, y, regulariser=args.regulariser, alpha=args.alpha, iters=args.iters,
                              method=args.method, x_true=x, progress=not args.no_progress)
    if not bool(torch.isfinite(res.x).all()):
        raise ValueError(f"the {args.method} inversion diverged (NaN or Inf); nothing written to {args.output}; "
                         "try fewer --iters, a smaller --beta or a larger --alpha")
    out = res.x.clamp(0, 1).float()
    rec = untile(out.cpu(), image.shape) if patch is not None else out[0].cpu()
    save_image(args.output, rec)
    f = res.final
    # the iterations run (the lifted stopping rule may end early; L-BFGS counts its evaluations)
    done = res.settings.get("iterations", res.settings.get("evaluations", args.iters))
    layer = f"layer {args.layer}" if args.layer is not None else "the output"
    method = f"lifted {args.solver}" if args.method == "lifted" else args.method
    print(f"inverted {layer} of {name} ({method}, {done} iterations, "
          f"{args.regulariser} alpha {args.alpha:g}, noise {args.noise:g}) -> {args.output}")
    misfit = f"misfit {f.get('misfit', float('nan')):.3g}, violation {f.get('violation', 0.0):.3g}"
    if image is not None:
        image = image.float()
        similarity = f"SSIM {float(ssim(rec, image)):.3f} ({SSIM_CONVENTION})" if has_ssim(image) else SSIM_NA
        print(f"PSNR {float(psnr(rec, image)):.2f} dB, {similarity}; " + misfit)
    else:
        print(misfit + " (no --clean image: no PSNR)")
    return 0


def check_invert_options(args: argparse.Namespace) -> None:
    """The combinations of options argparse cannot check (:class:`OptionError`, exit status 2)."""
    if args.method != "lifted":
        given = [option for option, value, default in (("--solver", args.solver, "apg"), ("--beta", args.beta, 0.0),
                                                       ("--lam", args.lam, 1.0), ("--lam-growth", args.lam_growth, 1.0),
                                                       ("--data-term", args.data_term, "bregman"))
                 if value != default]
        if given:
            raise OptionError(f"{', '.join(given)} set the lifted solver; --method {args.method} inverts the nested "
                              "problem and has none (drop them, or use --method lifted)")
    if args.beta > 0 and args.solver == "apg":
        raise OptionError("--beta is the inertia of --solver bcd; --solver apg has its own momentum")
    if args.checkpoint is not None:
        for option, value in (("--weights", args.weights), ("--features", args.features),
                              ("--in-shape", args.in_shape), ("--clean", args.clean)):
            if value is not None:
                raise OptionError(f"{option} goes with --module (a network of your own), not --checkpoint")
        if args.layer is None:
            raise OptionError("--checkpoint needs --layer (the layer whose features are inverted)")
    if args.features is not None and args.in_shape is None:
        raise OptionError("--features needs --in-shape (the shape of one input, e.g. 1 64 64)")
    if args.input is not None and (args.in_shape is not None or args.clean is not None):
        raise OptionError("--in-shape and --clean go with --features; with --input the image gives both")


def _foreign(args: argparse.Namespace, device):
    """``(network, x or None, y, name)`` for ``--module``: the converted network (its prefix up to
    ``--layer``), the input image and its features, or the features of ``--features``."""
    import torch

    from ..models import as_lifted, prefix_network
    from .foreign import load_features, load_module

    module = load_module(args.module, args.weights)
    name = args.module.rpartition(":")[2]
    if args.input is not None:
        x = arguments.load_input_image(args.input, None, "--input")[None]
        in_shape = tuple(x.shape[1:])
    else:
        x, in_shape = None, tuple(args.in_shape)
    net = as_lifted(module, in_shape).to(device)
    if args.layer is not None:
        if args.layer > net.depth:
            raise OptionError(f"--layer {args.layer}: {name} converts to a lifted network of {net.depth} layers")
        net = prefix_network(net, args.layer)
    like = next(net.parameters())
    if x is not None:
        x = x.to(like)
        with torch.no_grad():
            y = net(x)
    else:
        y = load_features(args.features, net.out_shape).to(like)
        if args.clean is not None:
            x = arguments.load_input_image(args.clean, in_shape[0], "--clean")[None].to(like)
            if tuple(x.shape[1:]) != in_shape:
                raise ValueError(f"--clean is {tuple(x.shape[1:])}; --in-shape says {in_shape}")
    return net, x, y, name
