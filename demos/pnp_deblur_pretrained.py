"""Plug-and-play deblurring with deepinv's PnP-HQS and liftinv's shipped, lifted-trained denoiser.

No training: the grayscale ScCP-PNNs shipped in ``liftinv/weights/`` (``liftinv.pretrained``) become
one ``deepinv.models.Denoiser`` (``liftinv.pretrained.deepinv_denoiser()``: at each denoising
strength the solver asks for, the model trained at the largest level not above it, the image
rescaled so that it sees its own level; ``--sigma-denoiser S``: the one model trained at S,
through ``liftinv.denoising.as_deepinv_denoiser``) and are the prior of deepinv's half-quadratic
splitting (``deepinv.optim.optim_builder(iteration="HQS",
prior=PnP(...))``) with the DPIR schedule of denoiser strengths and step sizes
(``deepinv.optim.dpir.get_DPIR_params``).  The embedded test image ``camera`` (never used for
training) is blurred by a Gaussian kernel (std 2 pixels, circular) plus 1% Gaussian noise
(sigma 2.55/255); the script prints the PSNR of the blurred input, of Wiener deconvolution and TV
deconvolution (their parameters tuned on crops of the *training* images) and of PnP, and writes
``OUT/pnp_deblur.png`` (clean, blurred, Wiener, TV, PnP) and ``OUT/pnp_deblur.json``.

About 10-15 s for the default 256x256 crop on one CPU thread (``--threads``).

    python3 demos/pnp_deblur_pretrained.py [-o results/pnp_deblur] [--crop 256] [--sigma-denoiser S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from liftinv.data import embedded_names, load_embedded
from liftinv.deblurring.classical import tune, tv_deconvolve, wiener_deconvolve, wiener_grid
from liftinv.deblurring.physics import blurred_test_set, gaussian_kernel
from liftinv.deblurring.pnp import pnp_dpir
from liftinv.denoising import as_deepinv_denoiser
from liftinv.metrics import psnr
from liftinv.pretrained import WEIGHTS_DIR, deepinv_denoiser, pretrained
from liftinv.restoration.arguments import nonneg_float, nonneg_int, positive_float, positive_int
from liftinv.restoration.report import pyplot, save_figure


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", "--out", default="results/pnp_deblur", help="output folder")
    parser.add_argument("--image", default="camera", choices=embedded_names("test"), help="embedded test image")
    parser.add_argument("--crop", type=nonneg_int, default=256, help="centre crop side (0: the whole image)")
    parser.add_argument("--blur", type=positive_float, default=2.0, help="Gaussian blur std in pixels")
    parser.add_argument("--noise", type=nonneg_float, default=2.55, help="noise std, 0-255 scale (default 1%%)")
    parser.add_argument("--sigma-denoiser", type=float, default=None,
                        help="one shipped grayscale denoiser (its trained sigma, 0-255); default: all of them, "
                             "each at the strengths it suits")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    clean = load_embedded("test")[embedded_names("test").index(args.image)]
    if args.crop:
        h, w = clean.shape[-2:]
        top, left = max(0, (h - args.crop) // 2), max(0, (w - args.crop) // 2)
        clean = clean[..., top:top + args.crop, left:left + args.crop]
    kernel, noise = gaussian_kernel(args.blur), args.noise / 255
    blurred = blurred_test_set([clean], kernel, noise)[0]  # the evaluation seed: reproducible

    if args.sigma_denoiser is None:  # every shipped level: the family picks the model per strength
        denoiser = deepinv_denoiser(color=False, device="cpu")
        trained_at = ", ".join(f"{level * 255:g}" for level in denoiser.levels)
        info = {"file": "sccp_gray_s*.pt family", "path": f"{WEIGHTS_DIR}/sccp_gray_s*.pt", "trainer": "lifted",
                "sigma": [level * 255 for level in denoiser.levels], "seconds": None, "steps": None}
    else:
        net, info = pretrained(args.sigma_denoiser, color=False, device="cpu")
        trained_at = f"{info['sigma']:g}"
        denoiser = as_deepinv_denoiser(net, info["sigma_01"])  # forward(x, sigma), rescaled to its own level
    restored = {"blurred": blurred.clamp(0, 1)}
    train = load_embedded("train")
    balance, _ = tune(wiener_deconvolve, train, kernel, noise, wiener_grid(noise))
    restored["Wiener (tuned on train)"] = wiener_deconvolve(blurred, kernel, balance)
    weight, _ = tune(tv_deconvolve, train, kernel, noise, [noise * f for f in (0.1, 0.2, 0.4, 0.8)])
    restored["TV (tuned on train)"] = tv_deconvolve(blurred, kernel, weight)
    t_pnp = time.perf_counter()
    restored[f"PnP-HQS (deepinv) + shipped {info['file']}"] = pnp_dpir(blurred, kernel, noise, denoiser)
    t_pnp = time.perf_counter() - t_pnp

    scores = {name: float(psnr(x, clean)) for name, x in restored.items()}
    print(f"{args.image} ({'x'.join(map(str, clean.shape[-2:]))}), Gaussian blur std {args.blur:g}, "
          f"noise {args.noise:g}/255; denoiser {info['path']} (lifted-trained at sigma {trained_at}/255)")
    for name, value in scores.items():
        print(f"  PSNR {name}: {value:.2f} dB")

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(restored) + 1, figsize=(3.2 * (len(restored) + 1), 3.5))
    for ax, (name, x) in zip(axes, [("clean", clean), *restored.items()]):
        ax.imshow(x[0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(name if name == "clean" else f"{name}\n{scores[name]:.2f} dB", fontsize=8)
        ax.axis("off")
    save_figure(fig, out / "pnp_deblur.png", bbox_inches="tight")
    record = {"command": "python3 demos/pnp_deblur_pretrained.py " + " ".join(argv or sys.argv[1:]),
              "image": args.image, "crop": args.crop, "blur_std": args.blur, "noise_255": args.noise,
              "denoiser": {k: info[k] for k in ("file", "sigma", "trainer", "seconds", "steps")},
              "wiener_balance": balance, "tv_weight": weight, "psnr": scores, "pnp_seconds": t_pnp,
              "total_seconds": time.perf_counter() - t0}
    (out / "pnp_deblur.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out / 'pnp_deblur.png'} and {out / 'pnp_deblur.json'} ({record['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
