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
from liftinv.data import embedded_names, load_embedded
from liftinv.restoration.arguments import device_name, positive_int, seconds
from liftinv.utils.allocator import tune_cpu_allocator


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", "--out", default="results/demo_inversion", help="output folder")
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run: 100 s measured on 2 CPU cores)")
    p.add_argument("--size", type=positive_int, default=64)
    p.add_argument("--m", type=positive_int, default=512)
    p.add_argument("--perceptron-iters", type=positive_int, default=2000)
    p.add_argument("--ae-budget", type=seconds, default=60.0)
    p.add_argument("--crop", type=positive_int, default=128)
    p.add_argument("--iters", type=positive_int, default=300)
    p.add_argument("--dfb-budget", type=seconds, default=20.0, help="DFB-PNN denoiser training seconds")
    p.add_argument("--device", type=device_name, default=None)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    tune_cpu_allocator()  # reuse large CPU blocks between steps (liftinv.utils.allocator)
    quick = {}
    if a.quick:  # the autoencoder by its time budget, the torch case shrunk too
        a.size, a.m, a.perceptron_iters, a.ae_budget, a.crop, a.iters = 32, 256, 300, 10.0, 32, 60
        a.dfb_budget = 5.0
        quick = dict(ae_epochs=None, torch_steps=200, torch_iters=60, torch_levels=(0.0, 0.05))
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
    sys.exit(main())
