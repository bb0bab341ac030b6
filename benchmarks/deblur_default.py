"""The restorations ``liftinv deblur`` can use without a checkpoint, on the TRAINING images.

What chose the command's default (``--method auto``): PnP-HQS with the shipped denoisers and the
DPIR schedule (``liftinv.deblurring.pnp.pnp_dpir``) at noise levels where it wins, Wiener
deconvolution below.  Each method at its command-line setting (Wiener balance
``WIENER_BALANCE * sigma``, TV weight ``0.2 sigma``, PnP with its schedule for ``sigma``), on
256x256 crops of the embedded *training* images, blurred circularly by each kernel with white
Gaussian noise (the evaluation seed of ``blurred_test_set``); mean PSNR (dB) and the seconds for
all the images (1 torch thread).

Usage::

    OMP_NUM_THREADS=1 python3 benchmarks/deblur_default.py --out benchmarks/results/deblur_default
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from liftinv.data import load_embedded
from liftinv.deblurring.classical import tv_deconvolve, wiener_deconvolve
from liftinv.deblurring.cli import TV_WEIGHT, WIENER_BALANCE
from liftinv.deblurring.physics import blurred_test_set, parse_kernel
from liftinv.deblurring.pnp import pnp_dpir
from liftinv.metrics import psnr
from liftinv.restoration.report import write_report

METHODS = ("blurred input", "wiener", "tv", "pnp")


def restore(method: str, y: torch.Tensor, kernel: torch.Tensor, sigma: float) -> torch.Tensor:
    """``y`` restored by ``method`` at the command line's setting for noise ``sigma`` ([0, 1])."""
    if method == "wiener":
        return wiener_deconvolve(y, kernel, WIENER_BALANCE * max(sigma, 1e-3))
    if method == "tv":
        return tv_deconvolve(y, kernel, TV_WEIGHT * max(sigma, 1e-3))
    if method == "pnp":
        return pnp_dpir(y, kernel, sigma)
    return y.clamp(0, 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernels", nargs="+", default=["gaussian:1.0", "gaussian:2.0", "box:4", "motion:9:30"])
    p.add_argument("--sigmas", nargs="+", type=float, default=[1.0, 1.5, 2.0, 2.55, 7.65, 25.5],
                   help="noise std on the 0-255 scale")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("-o", "--out", "--output", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 python3 benchmarks/deblur_default.py " + " ".join(argv or sys.argv[1:])
    images = [im[..., :args.crop, :args.crop] for im in load_embedded("train")]
    rows = []
    for spec in args.kernels:
        kernel = parse_kernel(spec)
        for s255 in args.sigmas:
            blurred = blurred_test_set(images, kernel, s255 / 255)
            row = {"kernel": spec, "sigma": s255, "psnr": {}, "seconds": {}}
            for method in METHODS:
                t0 = time.perf_counter()
                out = [restore(method, y, kernel, s255 / 255) for y in blurred]
                row["seconds"][method] = time.perf_counter() - t0
                row["psnr"][method] = sum(float(psnr(o, x)) for o, x in zip(out, images)) / len(images)
            rows.append(row)
            print(f"{spec} sigma {s255:g}: " + ", ".join(f"{m} {row['psnr'][m]:.2f}" for m in METHODS), flush=True)
    lines = ["# liftinv deblur without a checkpoint: its methods on the training images", "",
             f"Command: `{command}`", "",
             f"Mean PSNR (dB) on {args.crop}x{args.crop} crops of the {len(images)} embedded training images; "
             "in brackets the seconds for all of them (1 torch thread); the best of a row in bold.", "",
             "| kernel | sigma (0-255) | " + " | ".join(METHODS) + " |", "|---|---|" + "---|" * len(METHODS)]
    for row in rows:
        best = max(row["psnr"].values())
        cells = [(f"**{row['psnr'][m]:.2f}**" if row["psnr"][m] == best else f"{row['psnr'][m]:.2f}")
                 + f" ({row['seconds'][m]:.1f} s)" for m in METHODS]
        lines.append(f"| {row['kernel']} | {row['sigma']:g} | " + " | ".join(cells) + " |")
    if args.out:
        write_report(args.out, "deblur_default", {"command": command, "rows": rows}, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
