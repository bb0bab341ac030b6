"""The shipped denoisers alone and in their self-ensembles (x2, x4, x8), on the TRAINING images.

For each shipped model (``liftinv.pretrained``) the embedded training images (grayscale, or the
colour ones for the colour model) get white Gaussian noise at the model's sigma (seed 0), and are
denoised by the network alone and by :class:`liftinv.denoising.SelfEnsemble` with 2, 4 and 8
symmetries; the script prints the mean PSNR of each, the seconds it took, and writes
``self_ensemble.{json,md}`` in ``--out``.  This is what chose ``liftinv denoise``'s default
``--ensemble 8`` (the test images are for the reported scores only: ``benchmarks/train_pretrained.py
--rescore``).

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/self_ensemble.py --out benchmarks/results/self_ensemble``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from liftinv import pretrained
from liftinv.data import embedded_names, load_embedded
from liftinv.denoising.ensemble import ENSEMBLE_SIZES, self_ensemble
from liftinv.metrics import psnr
from liftinv.restoration.report import write_report


def score_model(key: str, crop: int | None, seed: int) -> dict:
    spec = pretrained.MODELS[key]
    net, _ = pretrained.pretrained(spec["sigma"], color=spec["color"], device="cpu")
    names, images = embedded_names("train", spec["color"]), load_embedded("train", color=spec["color"])
    if crop:
        images = [img[..., :crop, :crop] for img in images]
    gen = torch.Generator().manual_seed(seed)
    noisy = [x + spec["sigma"] / 255 * torch.randn(x.shape, generator=gen) for x in images]
    row = {"key": key, "images": names, "psnr": {}, "seconds": {}}
    for n in ENSEMBLE_SIZES:
        f = self_ensemble(net, n)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = [f(z[None])[0].clamp(0, 1) for z in noisy]
        row["seconds"][n] = time.perf_counter() - t0
        row["psnr"][n] = sum(float(psnr(o, x)) for o, x in zip(out, images)) / len(images)
    return row


def markdown(rows: list[dict], command: str) -> str:
    lines = ["# Self-ensemble of the shipped denoisers, training images", "", f"Command: `{command}`", "",
             "Mean PSNR (dB) on the embedded training images (noise seed 0); in brackets the gain over the "
             "network alone and the seconds for all the images (1 torch thread).", "",
             "| model | images | alone | x2 | x4 | x8 |", "|---|---|---|---|---|---|"]
    for r in rows:
        p, s = r["psnr"], r["seconds"]
        cells = [f"{p[1]:.2f} ({s[1]:.1f} s)"] + [f"{p[n]:.2f} ({p[n] - p[1]:+.2f}, {s[n]:.1f} s)"
                                                   for n in ENSEMBLE_SIZES[1:]]
        lines.append(f"| {r['key']} | {', '.join(r['images'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=sorted(pretrained.MODELS), default=sorted(pretrained.MODELS))
    p.add_argument("--crop", type=int, default=None, help="use only the top-left CROP x CROP of each image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 python3 benchmarks/self_ensemble.py " + " ".join(argv or sys.argv[1:])
    rows = []
    for key in args.models:
        rows.append(score_model(key, args.crop, args.seed))
        r = rows[-1]
        print(f"{key}: " + ", ".join(f"x{n} {r['psnr'][n]:.2f} dB ({r['seconds'][n]:.1f} s)" for n in ENSEMBLE_SIZES),
              flush=True)
    if args.out is not None:
        write_report(args.out, "self_ensemble", {"command": command, "rows": rows}, markdown(rows, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
