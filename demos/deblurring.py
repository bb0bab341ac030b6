"""Deblurring demo: an unrolled deblurring network (blur inside every layer) trained with lifted
Bregman BCD, next to the same network trained by backprop, PnP-HQS and classical deconvolution.

Trains on 40x40 patches of the embedded scikit-image pictures (camera, astronaut and coins held
out) for one kernel (Gaussian, std 2) at 1% noise, the same number of seconds per trainer, and
scores on the test images cropped to 256x256:

* the unrolled HQS/DFB network trained lifted and by backprop;
* PnP-HQS with a DFB-PNN denoiser (lifted and backprop) and deepinv's DnCNN, trained here;
* Wiener, TV deconvolution and Richardson-Lucy, parameters tuned on the training images.

Default budgets: 2 x 90 s + 3 x 45 s of training plus tuning and scoring (under 15 minutes on 2
CPU cores; the smoke run is in the report). Writes OUT/deblur.{json,md} and a panel
figure (clean, blurred, restored). The full benchmark is ``liftinv bench deblur``.

    python3 demos/deblurring.py [--budget 90] [--denoiser-budget 45] [-o results/demo_deblurring]
"""

from __future__ import annotations

import argparse
import sys

from liftinv.bench.deblur import run_deblur_benchmark
from liftinv.cli import report_errors
from liftinv.deblurring.cli import kernel_spec
from liftinv.restoration.arguments import DEVICE_HELP, device_name, noise_std, seconds
from liftinv.utils.allocator import tune_cpu_allocator
from liftinv.utils.checks import resolve_device


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=seconds, default=90.0, help="training seconds per unrolled net")
    parser.add_argument("--denoiser-budget", type=seconds, default=45.0, help="training seconds per PnP denoiser")
    parser.add_argument("--kernel", type=kernel_spec, default="gaussian:2.0",
                        help="blur kernel: gaussian:STD, box:SIZE, motion:LENGTH[:ANGLE] (degrees) or a .npy/image "
                             "file (default gaussian:2.0)")
    parser.add_argument("--sigma", type=noise_std(), default=2.55, help="noise std, 0-255 scale (default 2.55)")
    parser.add_argument("-o", "--output", "--out", default="results/demo_deblurring", help="output folder")
    parser.add_argument("--device", type=device_name, default=None, help=DEVICE_HELP)
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    resolve_device(args.device, "--device")  # a missing GPU is said before any work
    tune_cpu_allocator()  # reuse large CPU blocks between steps (liftinv.utils.allocator)
    report = run_deblur_benchmark(kernels=(args.kernel,), sigmas=(args.sigma,), budget=args.budget,
                                  denoiser_budget=args.denoiser_budget, crop=256, out=args.output, device=args.device,
                                  command="python3 demos/deblurring.py " + " ".join(argv or sys.argv[1:]))
    print(open(f"{args.output}/deblur.md").read())
    best = {r["method"]: r["psnr_mean"] for r in report["records"]}
    lifted, bp = best["unrolled net, lifted BCD"], best["unrolled net, backprop"]
    wiener = best["Wiener (balance tuned on train)"]
    print(f"Unrolled net: lifted {lifted:.2f} dB, backprop {bp:.2f} dB ({lifted - bp:+.2f} dB); "
          f"Wiener {wiener:.2f} dB (lifted {lifted - wiener:+.2f} dB).")


if __name__ == "__main__":
    sys.exit(report_errors("demos/deblurring.py", main))  # one `error:` line, as the liftinv command
