r"""Lifted inversion with its defaults on small torch networks of kinds no other benchmark trains.

A user brings a network liftinv has never seen and calls ``invert_lifted(as_lifted(net, in_shape), y)``.
This study asks what the defaults give on seven such networks, each an ``nn.Module`` with PyTorch's
own random initialisation (seeded), inverted from its outputs on crops of the embedded *training*
images (never the test ones), against ``invert_gradient(..., method="lbfgs")`` with its defaults:

* ``relu``: ``Conv2d(1, 16, 3)``, ReLU, ``Conv2d(16, 8, 4, stride 2)``, ReLU (the README's example);
* ``leaky``: the same with ``LeakyReLU(0.1)`` and a 3x3 stride-2 convolution;
* ``elu-avgpool``: ``Conv2d(1, 16)``, ELU, ``AvgPool2d(2)``, ``Conv2d(16, 8)``;
* ``tanh-mlp``: ``Flatten``, ``Linear(1024, 256)``, tanh, ``Linear(256, 128)``, tanh;
* ``batchnorm-sigmoid``: ``Conv2d(1, 16)``, ``BatchNorm2d`` (eval), ReLU, ``Conv2d(16, 8, stride 2)``, sigmoid;
* ``residual``: a module with ``h + relu(conv(h))`` (converted by torch.fx into a skip);
* ``prelu-hardtanh``: ``Conv2d(1, 16)``, PReLU, ``Conv2d(16, 8, stride 2)``, ``Hardtanh``.

Outputs exact or with Gaussian noise of ``--noise`` times the mean absolute output, projected onto
the output activation's range (as ``liftinv invert --noise`` does; the Bregman data term needs a
possible output).  TV prior at the default weight (``alpha = 1e-3``) for every method: the
defaults, not a tuned comparison (the tuned ones are ``liftinv bench invert``'s).  Columns: PSNR
of the estimate on the crops (clamped to [0, 1]), its solver seconds and iterations, for

* ``lifted``: ``invert_lifted(net, y)``, the defaults (at most 1000 iterations, the plateau rule);
* ``lifted 300``: the defaults of before the plateau rule, a fixed 300 iterations;
* ``lifted LONG``: ``--long`` iterations, no stopping rule (the converged reference);
* ``lifted output``: the defaults with ``data_term="lifted"``;
* ``L-BFGS``: ``invert_gradient(net, y, method="lbfgs")``;
* ``lifted, then L-BFGS``: L-BFGS started from the lifted default's estimate (its seconds are the
  L-BFGS part's): where it ends at L-BFGS's own point, the nested problem has one basin for these
  outputs and the lifted estimate differs from it as a different estimator, not as a worse optimiser.

Usage::

    OMP_NUM_THREADS=1 python3 benchmarks/invert_unseen.py --out benchmarks/results/invert_unseen
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from liftinv.data import load_embedded
from liftinv.inversion import as_lifted, invert_gradient, invert_lifted
from liftinv.metrics import psnr
from liftinv.restoration.report import markdown_header, run_metadata, write_report

CROP = 32


class Residual(nn.Module):
    """``relu(conv1 x)``, then ``h + relu(conv2 h)``, then ``relu(conv3 h)`` with stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.c3 = nn.Conv2d(8, 4, 3, stride=2, padding=1)

    def forward(self, x):
        h = torch.relu(self.c1(x))
        h = h + torch.relu(self.c2(h))
        return torch.relu(self.c3(h))


NETWORKS = {
    "relu": lambda: nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(16, 8, 4, stride=2, padding=1), nn.ReLU()),
    "leaky": lambda: nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.LeakyReLU(0.1),
                                   nn.Conv2d(16, 8, 3, stride=2, padding=1), nn.LeakyReLU(0.1)),
    "elu-avgpool": lambda: nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ELU(), nn.AvgPool2d(2),
                                         nn.Conv2d(16, 8, 3, padding=1)),
    "tanh-mlp": lambda: nn.Sequential(nn.Flatten(), nn.Linear(CROP * CROP, 256), nn.Tanh(), nn.Linear(256, 128),
                                      nn.Tanh()),
    "batchnorm-sigmoid": lambda: nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                               nn.Conv2d(16, 8, 3, stride=2, padding=1), nn.Sigmoid()),
    "residual": Residual,
    "prelu-hardtanh": lambda: nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.PReLU(),
                                            nn.Conv2d(16, 8, 3, stride=2, padding=1), nn.Hardtanh()),
}


def training_crops(per_image: int = 1) -> torch.Tensor:
    """Central-ish ``CROP`` x ``CROP`` grey crops of the embedded training images, ``(N, 1, 32, 32)``."""
    crops = []
    for im in load_embedded("train"):
        h, w = im.shape[-2:]
        for k in range(per_image):
            top, left = h // 3 + k * CROP, w // 3
            crops.append(im[:1, top:top + CROP, left:left + CROP])
    return torch.stack(crops)


def nested_objective(res) -> float:
    r""":math:`F = \tfrac12\|N(x) - y\|^2 + \alpha\,TV(x)` at the estimate, the batch mean (what L-BFGS
    minimises; a lifted result records the misfit and the prior's value separately)."""
    final = res.final
    if "regulariser" in final:
        return float(final["misfit"] + res.settings["alpha"] * final["regulariser"])
    return float(final["objective"])


def run(name: str, noise: float, x: torch.Tensor, long: int, seed: int) -> dict:
    torch.manual_seed(seed)
    module = NETWORKS[name]().eval().requires_grad_(False)
    net = as_lifted(module, in_shape=tuple(x.shape[1:]))
    with torch.no_grad():
        y = module(x)
    if noise > 0:
        y = y + noise * y.abs().mean() * torch.randn(y.shape, generator=torch.Generator().manual_seed(seed + 1))
        y = net.activation(net.depth).project(y)
    row, estimates = {"network": name, "noise": noise}, {}
    runs = {"lifted": lambda: invert_lifted(net, y),
            "lifted 300": lambda: invert_lifted(net, y, iters=300, plateau=0.0),
            f"lifted {long}": lambda: invert_lifted(net, y, iters=long, plateau=0.0, tol=0.0),
            "lifted output": lambda: invert_lifted(net, y, data_term="lifted"),
            "L-BFGS": lambda: invert_gradient(net, y, method="lbfgs"),
            "lifted, then L-BFGS": lambda: invert_gradient(net, y, method="lbfgs", x_init=estimates["lifted"])}
    for label, solve in runs.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            res = solve()
            seconds = time.perf_counter() - t0
        row[label] = {"psnr": float(psnr(res.x.clamp(0, 1), x).mean()), "seconds": seconds,
                      "iterations": res.history[-1]["iteration"], "warned": [str(w.message)[:120] for w in caught],
                      "nested_objective": nested_objective(res)}
        estimates[label] = res.x
        print(f"{name} noise {noise} {label}: {row[label]['psnr']:.2f} dB, {seconds:.1f} s", flush=True)
    return row


def markdown(rows: list[dict], meta: dict, long: int) -> str:
    labels = ["lifted", "lifted 300", f"lifted {long}", "lifted output", "L-BFGS", "lifted, then L-BFGS"]
    lines = markdown_header(meta, "Lifted inversion with its defaults on networks no other benchmark trains")
    lines += ["", f"{meta['crops']} crops of {CROP}x{CROP} from the embedded training images; PyTorch's random "
              f"initialisation (seed {meta['seed']}); TV, alpha 1e-3; noisy outputs projected onto the output range. "
              "PSNR (dB) of the clamped estimate, mean over the crops (solver seconds, iterations); a run that "
              "warned is marked W.", "",
              "| network | noise | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for r in rows:
        cells = [f"{r[k]['psnr']:.2f} ({r[k]['seconds']:.1f} s, {r[k]['iterations']}){' W' if r[k]['warned'] else ''}"
                 for k in labels]
        lines.append(f"| {r['network']} | {r['noise']:g} | " + " | ".join(cells) + " |")
    trio = ["lifted", "L-BFGS", "lifted, then L-BFGS"]
    lines += ["", "The nested objective F = |N(x) - y|^2/2 + alpha TV(x) at the estimates (batch mean):", "",
              "| network | noise | " + " | ".join(trio) + " |", "|---|---|" + "---|" * len(trio)]
    for r in rows:
        values = " | ".join(f"{r[k]['nested_objective']:.5g}" for k in trio)
        lines.append(f"| {r['network']} | {r['noise']:g} | {values} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", nargs="+", choices=sorted(NETWORKS), default=list(NETWORKS))
    p.add_argument("--noise", nargs="+", type=float, default=[0.0, 0.05])
    p.add_argument("--long", type=int, default=3000, help="iterations of the converged lifted reference")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    x = training_crops()
    command = "OMP_NUM_THREADS=1 python3 benchmarks/invert_unseen.py " + " ".join(argv or sys.argv[1:])
    meta = run_metadata("cpu", command, crops=x.shape[0], seed=args.seed)
    rows = [run(name, noise, x, args.long, args.seed) for name in args.networks for noise in args.noise]
    if args.out is not None:
        write_report(args.out, "invert_unseen", {"meta": meta, "rows": rows}, markdown(rows, meta, args.long))
    return 0


if __name__ == "__main__":
    sys.exit(main())
