"""The shipped grayscale denoisers at noise levels they were not trained at, on the TRAINING images.

``liftinv.pretrained(sigma)`` (and ``liftinv denoise --sigma``) must denoise at any level with the
four grayscale models (sigma 10, 15, 25, 50).  Four rules, scored by the mean PSNR on 192x192
crops of the embedded *training* images (white Gaussian noise, seed 0; no test image is used):

* ``nearest``: the model trained nearest sigma (ties: the larger), as trained;
* ``below``: the model of the largest trained level not above sigma, on the image scaled by
  ``s = level / sigma`` (``N(s x) / s``, so that it sees its own noise level; below the smallest
  level that model's output blended with the input, weight ``sigma / level``): the rule of
  ``liftinv.pretrained.deepinv_denoiser``;
* ``nearest centred`` and ``below centred``: the same models with the scaling centred on mid-grey,
  ``(N((x - 1/2) s + 1/2) - 1/2) / s + 1/2`` with ``s = min(level / sigma, 1)``, as the opponent
  colour denoiser scales its channels.

With ``--color`` the same for the colour denoiser of ``liftinv.pretrained(sigma, color=True)``
(the grayscale models in the opponent colour space) on the colour training images, at levels
below the lowest model's: ``noisy input``, ``opponent as planned`` (each channel's model as
``opponent_plan`` picks it) and ``opponent, blended`` (the library's: a channel given the lowest
model blended with its input, ``opponent_weights``).

Usage::

    OMP_NUM_THREADS=1 python3 benchmarks/pretrained_between_levels.py \
        --out benchmarks/results/pretrained_between_levels
"""

from __future__ import annotations

import argparse
import sys

import torch

from liftinv.data import load_embedded
from liftinv.denoising.deepinv_denoiser import Rescaled, family_choice
from liftinv.denoising.opponent import nearest_level
from liftinv.metrics import psnr
from liftinv.pretrained import deepinv_denoiser
from liftinv.restoration.report import write_report

RULES = ("nearest", "below", "nearest centred", "below centred")


def rule_denoiser(rule: str, family, sigma: float):
    """``x -> denoised x`` at ``sigma`` (0-255) by ``rule`` over the networks of ``family``."""
    levels = [level * 255 for level in family.levels]
    if rule.startswith("nearest"):
        k = levels.index(nearest_level(sigma, levels))
        s = min(levels[k] / sigma, 1.0)
    else:
        k, s, w = family_choice(sigma, levels)
    net = family.networks[k]
    if rule == "nearest":
        return net
    if rule == "below":
        return Rescaled(net, s, w)
    return lambda x: (net((x - 0.5) * s + 0.5) - 0.5) / s + 0.5


COLOR_RULES = ("noisy input", "opponent as planned", "opponent, blended")


def color_rows(sigmas, crop: int) -> tuple[list[dict], int]:
    """The ``--color`` comparison (module docstring): rows of mean PSNR, and the image count."""
    from liftinv.denoising.opponent import OpponentDenoiser, opponent_plan, opponent_weights

    images = [im[..., :crop, :crop] for im in load_embedded("train", color=True)]
    family = deepinv_denoiser(color=False, device="cpu")
    levels = family.levels
    gen, rows = torch.Generator().manual_seed(0), []
    with torch.no_grad():
        for sigma in sigmas:
            s01 = sigma / 255
            plan = opponent_plan(s01, levels)
            nets = [family.networks[levels.index(level)] for level, _ in plan]
            scales = [scale for _, scale in plan]
            rules = {"noisy input": lambda z: z, "opponent as planned": OpponentDenoiser(nets, scales),
                     "opponent, blended": OpponentDenoiser(nets, scales, opponent_weights(s01, plan, levels))}
            noisy = [x + s01 * torch.randn(x.shape, generator=gen) for x in images]
            row = {"sigma": sigma}
            for name, f in rules.items():
                row[name] = sum(float(psnr(f(z[None])[0].clamp(0, 1), x)) for z, x in zip(noisy, images)) / len(images)
            rows.append(row)
            print(f"colour sigma {sigma:g}: " + ", ".join(f"{r} {row[r]:.2f}" for r in COLOR_RULES), flush=True)
    return rows, len(images)


def table(title: str, command: str, images: str, rules, rows: list[dict]) -> list[str]:
    """The Markdown lines of a results table (one row per sigma, one column per rule)."""
    lines = [f"# {title}", "", f"Command: `{command}`", "",
             f"Mean PSNR (dB) on {images}, noise seed 0, 1 torch thread; the rules are in the script's docstring.",
             "", "| sigma | " + " | ".join(rules) + " |", "|---|" + "---|" * len(rules)]
    return lines + [f"| {row['sigma']:g} | " + " | ".join(f"{row[r]:.2f}" for r in rules) + " |" for row in rows]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sigmas", nargs="+", type=float, default=[2, 5, 8, 12, 20, 30, 35, 40, 45, 60, 75, 100])
    p.add_argument("--crop", type=int, default=192)
    p.add_argument("--color", action="store_true", help="the colour denoiser below the lowest level instead")
    p.add_argument("-o", "--out", "--output", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 python3 benchmarks/pretrained_between_levels.py " + " ".join(argv or sys.argv[1:])
    if args.color:
        rows, n = color_rows(args.sigmas, args.crop)
        lines = table("The shipped colour denoiser below its lowest level (colour training images)", command,
                      f"{args.crop}x{args.crop} crops of the {n} embedded colour training images", COLOR_RULES, rows)
        if args.out:
            write_report(args.out, "pretrained_between_levels_color", {"command": command, "rows": rows},
                         "\n".join(lines) + "\n")
        return 0
    images = [im[..., :args.crop, :args.crop] for im in load_embedded("train")]
    family = deepinv_denoiser(color=False, device="cpu")
    gen = torch.Generator().manual_seed(0)
    rows = []
    with torch.no_grad():
        for sigma in args.sigmas:
            noisy = [x + sigma / 255 * torch.randn(x.shape, generator=gen) for x in images]
            row = {"sigma": sigma}
            for rule in RULES:
                f = rule_denoiser(rule, family, sigma)
                row[rule] = sum(float(psnr(f(z[None])[0].clamp(0, 1), x)) for z, x in zip(noisy, images)) / len(images)
            rows.append(row)
            print(f"sigma {sigma:g}: " + ", ".join(f"{r} {row[r]:.2f}" for r in RULES), flush=True)
    means = {r: sum(row[r] for row in rows) / len(rows) for r in RULES}
    lines = table("The shipped grayscale denoisers between their trained levels (training images)", command,
                  f"{args.crop}x{args.crop} crops of the {len(images)} embedded training images", RULES, rows)
    lines.append("| mean | " + " | ".join(f"{means[r]:.2f}" for r in RULES) + " |")
    if args.out:
        write_report(args.out, "pretrained_between_levels", {"command": command, "rows": rows, "means": means},
                     "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
