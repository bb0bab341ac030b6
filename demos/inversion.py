"""Inversion of trained networks: the experiments of issues 5 and 13, on 2 CPU cores in minutes.

1. A random ReLU perceptron 4096 -> 512 inverted with TV on 64x64 natural images
   (single-layer PDHG, alpha proportional to delta): error vs delta on a log-log plot,
   fitted slope next to the theoretical one.
2. A convolutional autoencoder trained by lifted BCD on the embedded training images:
   its image recovered from noisy codes by lifted and by gradient inversion (Adam,
   L-BFGS) at the same iteration budget, PSNR/SSIM at three noise levels.
3. The same trained network inverted from its output and from intermediate features, and a
   DFB-PNN unrolled denoiser (lifted-trained) whose noisy input is recovered from its output
   or from intermediate dual features.
4. A conv encoder trained by plain torch backprop (not by liftinv), converted and inverted from
   noisy codes by lifted inversion, L-BFGS and Adam: PSNR against seconds and iterations.

Run:  OMP_NUM_THREADS=1 python demos/inversion.py [--quick] [-o OUTDIR]
All sizes are options (see --help); it is `liftinv bench invert` with the demo defaults.
"""

from __future__ import annotations

import argparse
import sys

import torch

from liftinv.bench.invert import run_invert_benchmark
from liftinv.cli import report_errors
from liftinv.data import embedded_names, load_embedded
from liftinv.restoration.arguments import DEVICE_HELP, device_name, positive_int, seconds
from liftinv.utils.allocator import tune_cpu_allocator
from liftinv.utils.checks import resolve_device

#: the sizes of a full run and of a --quick one; an option given on the command line wins over both
DEFAULTS = {"size": 64, "m": 512, "perceptron_iters": 2000, "ae_budget": 60.0, "crop": 128, "iters": 300,
            "dfb_budget": 20.0}
QUICK = {"size": 32, "m": 256, "perceptron_iters": 300, "ae_budget": 10.0, "crop": 32, "iters": 60, "dfb_budget": 5.0}


def build_parser() -> argparse.ArgumentParser:
    def default(name: str) -> str:
        return f"(default {DEFAULTS[name]:g}; --quick {QUICK[name]:g})"

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", "--out", default="results/demo_inversion", help="output folder")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes (a smoke run: 133 s measured on the 2-core machine, 1 thread): the quick "
                        "default of every size option not given")
    p.add_argument("--size", type=positive_int, default=None,
                   help=f"side of the perceptron's input images (SIZE x SIZE crops) {default('size')}")
    p.add_argument("--m", type=positive_int, default=None, help=f"outputs of the random ReLU perceptron {default('m')}")
    p.add_argument("--perceptron-iters", type=positive_int, default=None,
                   help=f"PDHG iterations of each TV-regularised perceptron inversion {default('perceptron_iters')}")
    p.add_argument("--ae-budget", type=seconds, default=None,
                   help=f"training seconds of the convolutional autoencoder {default('ae_budget')}")
    p.add_argument("--crop", type=positive_int, default=None,
                   help=f"side of the test-image crops inverted through the autoencoder, tile by tile "
                        f"{default('crop')}")
    p.add_argument("--iters", type=positive_int, default=None,
                   help=f"iteration budget of every inversion method (lifted, Adam, L-BFGS) {default('iters')}")
    p.add_argument("--dfb-budget", type=seconds, default=None,
                   help=f"DFB-PNN denoiser training seconds {default('dfb_budget')}")
    p.add_argument("--device", type=device_name, default=None, help=DEVICE_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    """The options; --quick changes the defaults of the size options, not a value given."""
    a = build_parser().parse_args(argv)
    for name, value in (QUICK if a.quick else DEFAULTS).items():
        if getattr(a, name) is None:
            setattr(a, name, value)
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    resolve_device(a.device, "--device")  # a missing GPU is said before any work
    tune_cpu_allocator()  # reuse large CPU blocks between steps (liftinv.utils.allocator)
    quick = {}
    if a.quick:  # the autoencoder by its time budget, the torch case shrunk too
        quick = dict(ae_epochs=None, torch_steps=200, torch_iters=60, torch_levels=(0.0, 0.05), tuning_images=2,
                     alpha_grid=(1e-4, 1e-3))
    torch.manual_seed(0)
    report = run_invert_benchmark(
        train_images=load_embedded("train"), test_images=load_embedded("test"), test_names=embedded_names("test"),
        out=a.output, device=a.device, size=a.size, m=a.m, perceptron_iters=a.perceptron_iters, ae_budget=a.ae_budget,
        crop=a.crop, iters=a.iters, dfb_budget=a.dfb_budget, progress=not a.no_progress,
        command="python demos/inversion.py " + " ".join(sys.argv[1:]), **quick,
    )
    print(open(f"{a.output}/invert.md").read())
    print(f"figures and JSON in {a.output}/ ({report['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(report_errors("demos/inversion.py", main))  # one `error:` line, as the liftinv command
