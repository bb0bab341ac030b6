"""Denoising demo: an unrolled DFB-PNN trained with lifted Bregman BCD, next to backprop.

Trains on 40x40 patches of the scikit-image pictures (camera, astronaut and coins
held out for testing) at noise sigma = 25/255, for the same number of seconds with
each trainer, and scores everything on the whole test images:

* the DFB-PNN trained by lifted Bregman block-coordinate descent,
* the same DFB-PNN trained by backprop (Adam),
* deepinv's DnCNN trained by backprop, with a comparable parameter count,
* TV denoising (weight tuned on the training images) and BM3D (if installed).

About 10 minutes on 2 CPU cores with the default budget; writes
results/denoising/denoise.{json,md} and two figures.  The full benchmark, at three
noise levels and longer budgets, is ``liftinv bench denoise``.

    python3 demos/denoising.py [--budget 150] [--out results/denoising] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys

from liftinv.bench.denoise import run_denoise_benchmark
from liftinv.utils.allocator import tune_cpu_allocator


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=150.0, help="training seconds per trained method")
    parser.add_argument("-o", "--output", default="results/denoising", help="output folder")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args(argv)
    tune_cpu_allocator()  # reuse large CPU blocks between steps (liftinv.utils.allocator)
    report = run_denoise_benchmark(sigmas=(25,), budget=args.budget, out=args.output, device=args.device,
                                   command="python3 demos/denoising.py " + " ".join(argv or sys.argv[1:]))
    print()
    print(open(f"{args.output}/denoise.md").read())
    best = {r["method"]: r["psnr_mean"] for r in report["records"]}
    lifted, bp = best["DFB-PNN, lifted Bregman BCD"], best["DFB-PNN, backprop (Adam)"]
    print(f"Lifted-trained DFB-PNN: {lifted:.2f} dB, backprop-trained: {bp:.2f} dB "
          f"(difference {lifted - bp:+.2f} dB).")
    print(f"Figures: {args.output}/denoise_psnr_vs_time.png, {args.output}/denoise_panels.png")


if __name__ == "__main__":
    main()
