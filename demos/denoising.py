"""Denoising demo: an unrolled DFB-PNN trained with lifted Bregman BCD, next to backprop.

Trains on 40x40 patches of the scikit-image pictures (camera, astronaut and coins
held out for testing) at noise sigma = 25/255, for the same number of seconds with
each trainer, and scores everything on the whole test images:

* the DFB-PNN trained by lifted Bregman block-coordinate descent,
* the same DFB-PNN trained by backprop (Adam),
* deepinv's DnCNN trained by backprop, with a comparable parameter count,
* TV denoising (weight tuned on the training images) and BM3D (if installed).

About 8-11 minutes on 2 CPU cores with the default budget; writes
results/denoising/denoise.{json,md} and two figures.  The full benchmark, at three
noise levels and longer budgets, is ``liftinv bench denoise``.

    python3 demos/denoising.py [--budget 150] [-o results/denoising] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys

from liftinv.bench.denoise import run_denoise_benchmark
from liftinv.cli import report_errors
from liftinv.restoration.arguments import DEVICE_HELP, device_name, seconds
from liftinv.utils.allocator import tune_cpu_allocator
from liftinv.utils.checks import resolve_device


def step_count_note(lifted_steps: int, backprop_steps: int, step_ratio: float) -> str:
    """One line on the two trainers' step counts in the same budget, with a warning when their
    ratio is far from the one the timed steps predict (another job on the machine slowed one
    trainer, and the equal-time comparison then measures the machine, not the trainer)."""
    ratio = backprop_steps / max(lifted_steps, 1)
    line = (f"Steps in the same budget: lifted {lifted_steps}, backprop {backprop_steps} (ratio {ratio:.2f}; "
            f"the timed steps predict {step_ratio:.2f}).")
    if not 0.75 <= ratio / step_ratio <= 1.33:
        line += (" WARNING: the step counts differ by more than the step times explain; another job probably "
                 "shared the CPU, so this equal-time comparison is unreliable. Run again on an idle machine.")
    return line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=seconds, default=150.0, help="training seconds per trained method")
    parser.add_argument("-o", "--output", "--out", default="results/denoising", help="output folder")
    parser.add_argument("--device", type=device_name, default=None, help=DEVICE_HELP)
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    resolve_device(args.device, "--device")  # a missing GPU is said before any work
    tune_cpu_allocator()  # reuse large CPU blocks between steps (liftinv.utils.allocator)
    report = run_denoise_benchmark(sigmas=(25,), budget=args.budget, out=args.output, device=args.device,
                                   command="python3 demos/denoising.py " + " ".join(argv or sys.argv[1:]))
    print()
    print(open(f"{args.output}/denoise.md").read())
    rows = {r["method"]: r for r in report["records"]}
    lifted, bp = rows["DFB-PNN, lifted Bregman BCD"], rows["DFB-PNN, backprop (Adam)"]
    print(f"Lifted-trained DFB-PNN: {lifted['psnr_mean']:.2f} dB, backprop-trained: {bp['psnr_mean']:.2f} dB "
          f"(difference {lifted['psnr_mean'] - bp['psnr_mean']:+.2f} dB).")
    print(step_count_note(lifted["iterations"], bp["iterations"], report["meta"]["step_time"]["ratio"]))
    print(f"Figures: {args.output}/denoise_psnr_vs_time.png, {args.output}/denoise_panels.png")


if __name__ == "__main__":
    sys.exit(report_errors("demos/denoising.py", main))  # one `error:` line, as the liftinv command
