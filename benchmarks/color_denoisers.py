"""Colour denoising with the shipped weights: the grayscale models in the opponent colour space
against the ScCP-PNN trained on RGB images, CBM3D and colour TV.

Two image sets, scored separately:

* **validation**: the natural colour images inside scikit-image that the embedded split leaves
  out (``stereo_motorcycle``'s left view, ``immunohistochemistry``, ``retina``,
  ``hubble_deep_field``; see ``liftinv.data.EXCLUDED``) and the synthetic ``colorwheel`` (fully
  saturated colours: the stress test of the range fitting), centre crops of 512x512.  No shipped
  model was trained or tested on them, so they choose between the colour strategies without
  touching the test image and without favouring the RGB network, which was trained on the
  colour training images (chelsea, coffee, rocket; scored too, as a check of that bias);
* **test**: astronaut, the embedded colour test image.

Variants of the opponent denoiser (``liftinv.denoising.opponent``), all from the shipped grayscale
ScCP-PNNs: ``opponent`` (the default: luminance by the model nearest sigma/sqrt(3), chrominances
by the model nearest sigma, each channel's scale min(sigma_k / sigma, 1 / range)), ``opponent,
matched`` (every channel by the model nearest its own noise level after range fitting),
``opponent, unfitted chroma`` (chrominances at the scale sigma_k / sigma even where their range
leaves [0, 1]).  ``rgb`` is the shipped ScCP-PNN trained on RGB images (sigma 25; at other levels
that same model).  Noise is drawn with the evaluation seed; TV's weight is tuned on the training
images.

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/color_denoisers.py --out benchmarks/results/color_denoisers``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import liftinv
from liftinv.data import embedded_names, load_embedded
from liftinv.denoising.classical import bm3d_available, bm3d_denoise, tune_tv_weight, tv_denoise
from liftinv.denoising.ensemble import SelfEnsemble
from liftinv.denoising.opponent import CHANNEL_RANGES, OpponentDenoiser, nearest_level, opponent_plan
from liftinv.denoising.task import describe
from liftinv.pretrained import MODELS
from liftinv.restoration import degraded_test_set, make_physics, restore_images, score
from liftinv.restoration.report import write_report

#: the held-out natural colour images (scikit-image loaders) and the saturation stress test
VALIDATION = ("stereo_motorcycle", "immunohistochemistry", "retina", "hubble_deep_field", "colorwheel")
#: the noise levels of the shipped grayscale models
GRAY_LEVELS = tuple(sorted(spec["sigma"] for spec in MODELS.values() if not spec["color"]))


def centre_crop(image: torch.Tensor, size: int | None) -> torch.Tensor:
    """The centre ``size x size`` crop of a ``(C, H, W)`` image (``None``: the image)."""
    if size is None:
        return image
    h0, w0 = max((image.shape[-2] - size) // 2, 0), max((image.shape[-1] - size) // 2, 0)
    return image[..., h0:h0 + size, w0:w0 + size].contiguous()


def validation_image(name: str, size: int = 512) -> torch.Tensor:
    """``(3, H, W)`` float tensor in [0, 1]: the centre ``size`` crop of a scikit-image colour image."""
    import skimage.data

    a = getattr(skimage.data, name)()
    a = a[0] if isinstance(a, tuple) else a  # stereo_motorcycle: (left, right, disparity)
    a = np.ascontiguousarray(a[..., :3].astype(np.float32) / 255.0)
    return centre_crop(torch.from_numpy(a).permute(2, 0, 1), size)


def variants(sigma: float) -> dict:
    """name -> colour denoiser at noise level ``sigma`` (0-255)."""
    gray = {s: liftinv.pretrained(s, device="cpu")[0] for s in GRAY_LEVELS}
    fit = [1.0 / (hi - lo) for lo, hi in CHANNEL_RANGES]

    def build(levels, scales):
        return OpponentDenoiser([gray[s] for s in levels], scales)

    matched = [nearest_level(sigma * f, GRAY_LEVELS) for f in fit]
    default = [level for level, _ in opponent_plan(sigma, GRAY_LEVELS)]  # its models, scaled otherwise below
    return {
        "opponent (default)": liftinv.pretrained(sigma, color=True, device="cpu")[0],
        "opponent, matched": build(matched, fit),
        "opponent, unfitted chroma": build(default, [min(default[0] / sigma, fit[0]),
                                                     default[1] / sigma, default[2] / sigma]),
        "rgb (ScCP-PNN trained on RGB, sigma 25)": liftinv.pretrained(25, color=True, device="cpu",
                                                                      color_model="rgb")[0],
    }


def evaluate(images: list[torch.Tensor], sigma: float, args, tv_weight: float) -> dict:
    noisy = degraded_test_set(make_physics(describe(sigma / 255)), images)
    rows = {"noisy input": score([z.clamp(0, 1) for z in noisy], images)}
    with torch.no_grad():
        for name, net in variants(sigma).items():
            rows[name] = score(restore_images(net, noisy), images)
            if name == "opponent (default)":
                rows[name + ", x8 self-ensemble"] = score(restore_images(SelfEnsemble(net, 8), noisy), images)
    rows["TV (tuned on train)"] = score([tv_denoise(z, tv_weight) for z in noisy], images)
    if args.bm3d and bm3d_available():
        rows["CBM3D"] = score([bm3d_denoise(z, sigma / 255) for z in noisy], images)
    return rows


def table(title: str, names: list[str], rows: dict) -> list[str]:
    out = [f"### {title}", "", "| method | " + " | ".join(names) + " | mean PSNR | mean SSIM |",
           "|---|" + "---|" * (len(names) + 2)]
    for method, r in rows.items():
        out.append(f"| {method} | " + " | ".join(f"{p:.2f}" for p in r["psnr"])
                   + f" | {r['psnr_mean']:.2f} | {r['ssim_mean']:.3f} |")
    return out + [""]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sigmas", type=float, nargs="+", default=[15.0, 25.0, 50.0])
    set_names = ["validation", "train", "test"]
    p.add_argument("--sets", nargs="+", default=set_names, choices=set_names)
    p.add_argument("--no-bm3d", dest="bm3d", action="store_false", help="skip CBM3D (slow)")
    p.add_argument("--crop", type=int, default=None,
                   help="centre crops of this side for every set (default: 512 for validation, whole images otherwise)")
    p.add_argument("-o", "--out", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 python3 benchmarks/color_denoisers.py " + " ".join(argv or sys.argv[1:])
    start = time.time()
    sets = {"validation": (list(VALIDATION), [validation_image(n, args.crop or 512) for n in VALIDATION]),
            "train": (embedded_names("train", True), [centre_crop(x, args.crop) for x in load_embedded("train", True)]),
            "test": (embedded_names("test", True), [centre_crop(x, args.crop) for x in load_embedded("test", True)])}
    train = load_embedded("train", color=True)
    report = {"command": command, "results": {}}
    lines = ["# Colour denoising with the shipped weights", "", f"Command: `{command}`", "",
             "PSNR (dB, data range 1) per image, mean PSNR and mean SSIM; networks alone (no self-ensemble) "
             "unless the row says so (x8: what `liftinv denoise` runs). Validation: scikit-image colour "
             "images outside the embedded split "
             "(512x512 centre crops); train: the colour training images (the RGB network was trained on "
             "them); test: astronaut.", ""]
    for sigma in args.sigmas:
        weight, _ = tune_tv_weight(train, sigma / 255)
        for name in args.sets:
            names, images = sets[name]
            rows = evaluate(images, sigma, args, weight)
            report["results"][f"{name}/{sigma:g}"] = {"images": names, "methods": rows}
            lines += table(f"sigma {sigma:g}, {name} images", names, rows)
            print(f"sigma {sigma:g} {name}: " + ", ".join(f"{m} {r['psnr_mean']:.2f}" for m, r in rows.items()),
                  flush=True)
    report["seconds"] = time.time() - start
    lines.append(f"Total {report['seconds']:.0f} s.")
    if args.out is not None:
        write_report(args.out, "color_denoisers", report, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
