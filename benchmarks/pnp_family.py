"""Plug-and-play deblurring with one shipped denoiser or with the whole shipped family.

deepinv's PnP-HQS with the DPIR schedule (``demos/pnp_deblur_pretrained.py``'s solver) asks its
denoiser for strengths from about 50/255 down to the data's noise level.  This compares two priors
built from the shipped grayscale ScCP-PNNs: ``fixed S`` (the model trained at S, rescaled down to
its own level above S, as trained below it: ``liftinv.denoising.as_deepinv_denoiser``) and
``family`` (at each strength the model trained at the largest level not above it, rescaled:
``liftinv.pretrained.deepinv_denoiser()``), on 256x256 centre crops blurred by a Gaussian of std 2
pixels with 1% and 3% noise (the evaluation seed).  ``--split train`` scores the grayscale training
images (what chose the family as the demo's default), ``--split test`` the test images.

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/pnp_family.py --split train --out benchmarks/results/pnp_family``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from liftinv.data import embedded_names, load_embedded
from liftinv.deblurring.physics import blurred_test_set, gaussian_kernel
from liftinv.deblurring.pnp import pnp_dpir
from liftinv.denoising import as_deepinv_denoiser
from liftinv.metrics import psnr
from liftinv.pretrained import deepinv_denoiser, pretrained
from liftinv.restoration.report import write_report


def centre(image: torch.Tensor, size: int) -> torch.Tensor:
    h, w = image.shape[-2:]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[..., top:top + size, left:left + size]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=["train", "test"], default="train")
    p.add_argument("--noises", type=float, nargs="+", default=[2.55, 7.65], help="noise std, 0-255 scale")
    p.add_argument("--fixed", type=float, default=15.0, help="the single model compared (its trained sigma)")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("-o", "--out", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 python3 benchmarks/pnp_family.py " + " ".join(argv or sys.argv[1:])
    start = time.time()
    net, info = pretrained(args.fixed, device="cpu")
    priors = {f"fixed {args.fixed:g}": as_deepinv_denoiser(net, info["sigma_01"]),
              "family": deepinv_denoiser(device="cpu")}
    kernel, rows = gaussian_kernel(2.0), []
    for name, clean in zip(embedded_names(args.split), load_embedded(args.split)):
        clean = centre(clean, args.crop)
        for noise in args.noises:
            blurred = blurred_test_set([clean], kernel, noise / 255)[0]
            row = {"image": name, "noise": noise, "blurred": float(psnr(blurred.clamp(0, 1), clean))}
            for prior, denoiser in priors.items():
                row[prior] = float(psnr(pnp_dpir(blurred, kernel, noise / 255, denoiser), clean))
            rows.append(row)
            print(", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                  flush=True)
    names = list(priors)
    lines = ["# PnP-HQS deblurring: one shipped denoiser or the family", "", f"Command: `{command}`", "",
             f"Gaussian blur std 2, {args.crop}x{args.crop} centre crops of the {args.split} images, PSNR (dB).", "",
             "| image | noise (0-255) | blurred | " + " | ".join(names) + " | family minus fixed |",
             "|---|---|---|" + "---|" * (len(names) + 1)]
    for r in rows:
        lines.append(f"| {r['image']} | {r['noise']:g} | {r['blurred']:.2f} | "
                     + " | ".join(f"{r[n]:.2f}" for n in names) + f" | {r['family'] - r[names[0]]:+.2f} |")
    gains = [r["family"] - r[names[0]] for r in rows]
    lines += ["", f"Family minus fixed: mean {sum(gains) / len(gains):+.2f} dB, "
              f"{sum(g > 0 for g in gains)} of {len(gains)} cases above. Total {time.time() - start:.0f} s."]
    if args.out is not None:
        write_report(args.out, f"pnp_family_{args.split}", {"command": command, "rows": rows},
                     "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
