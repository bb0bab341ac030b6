r"""Lifted against gradient inversion of deep networks with saturating activations (issue 13).

Issue 14 asks where lifted *training* beats backprop and points at deep networks with saturating
activations, where gradients through many layers vanish; this study asks the same of *inversion*:
given the outputs :math:`y = N(x)` of a frozen deep network, recover :math:`x`.

The networks are ``nn.Sequential`` stacks of ``depth`` square ``nn.Linear(64, 64)`` layers, each
followed by the activation (``tanh``, ``sigmoid`` or ``hardtanh``), with orthogonal weights
(gain 1 for tanh and hard-tanh, 4 for the sigmoid, whose slope at 0 is 1/4) and zero biases, so
that every network is invertible and its pre-images are well defined; they are random, not trained
(a clean test bed: no prior is needed, the answer is unique).  The inputs are 16 samples uniform in
:math:`[0, 1]^{64}`, the constraint :math:`x \in [0, 1]^{64}` (``regulariser="box"``, no weight),
noiseless outputs.  Methods, each ``--iters`` iterations (function evaluations for L-BFGS), from
mid-grey:

* ``lifted``: :func:`~liftinv.inversion.invert_lifted`, the default solver (``apg``, lam 1);
* ``lifted + continuation``: the same with ``lam_growth=1.02`` (lam grows to 1e3);
* ``lifted BCD``: ``method="bcd"``, inertia 0.95;
* ``L-BFGS`` and ``Adam`` (lr 0.01): :func:`~liftinv.inversion.invert_gradient`.

Reported: the relative error :math:`\|\hat x - x\|/\|x\|`, the relative misfit
:math:`\|N(\hat x) - y\|/\|y\|` and the seconds (1 torch thread).  Usage::

    OMP_NUM_THREADS=1 python3 benchmarks/invert_deep_mlp.py --out benchmarks/results/invert_deep_mlp
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

from liftinv.inversion import as_lifted, invert_gradient, invert_lifted
from liftinv.restoration.report import write_report

WIDTH = 64
ACTIVATIONS = {"tanh": (nn.Tanh, 1.0), "sigmoid": (nn.Sigmoid, 4.0), "hardtanh": (nn.Hardtanh, 1.0)}
METHODS = ({"label": "lifted", "kind": "lifted"},
           {"label": "lifted + continuation", "kind": "lifted", "lam_growth": 1.02},
           {"label": "lifted BCD", "kind": "lifted", "method": "bcd", "beta": 0.95},
           {"label": "L-BFGS", "kind": "lbfgs"},
           {"label": "Adam", "kind": "adam", "lr": 0.01})


def deep_network(depth: int, activation: str, seed: int = 0) -> nn.Sequential:
    """``depth`` orthogonal ``Linear(64, 64)`` layers, each followed by ``activation`` (eval mode)."""
    act, gain = ACTIVATIONS[activation]
    torch.manual_seed(seed)
    layers = []
    for _ in range(depth):
        lin = nn.Linear(WIDTH, WIDTH)
        nn.init.orthogonal_(lin.weight, gain=gain)
        nn.init.zeros_(lin.bias)
        layers += [lin, act()]
    return nn.Sequential(*layers).eval().requires_grad_(False)


def invert(module: nn.Sequential, y: torch.Tensor, method: dict, iters: int):
    opts = {k: v for k, v in method.items() if k not in ("label", "kind")}
    if method["kind"] == "lifted":
        net = as_lifted(module, in_shape=(WIDTH,))
        return invert_lifted(net, y, regulariser="box", alpha=0.0, iters=iters, tol=0.0, plateau=0.0, **opts)
    return invert_gradient(module, y, regulariser="box", alpha=0.0, iters=iters, method=method["kind"],
                           x_init=torch.full((y.shape[0], WIDTH), 0.5), **opts)


def run_case(depth: int, activation: str, *, samples: int, iters: int, seed: int) -> list[dict]:
    module = deep_network(depth, activation, seed)
    x = torch.rand(samples, WIDTH, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        y = module(x)
    rows = []
    for method in METHODS:
        t0 = time.perf_counter()
        res = invert(module, y, method, iters)
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            err = float((res.x - x).norm() / x.norm())
            misfit = float((module(res.x) - y).norm() / y.norm())
        rows.append({"depth": depth, "activation": activation, "seed": seed, "method": method["label"],
                     "error": err, "misfit": misfit, "seconds": seconds})
        print(f"{activation} depth {depth} seed {seed} {method['label']}: error {err:.4f}, misfit {misfit:.2e}, "
              f"{seconds:.1f} s", flush=True)
    return rows


def markdown(rows: list[dict], command: str, args) -> str:
    lines = ["# Inverting deep networks with saturating activations: lifted against gradient methods", "",
             f"Command: `{command}`", "",
             f"Random orthogonal {WIDTH}-wide networks, {args.samples} inputs uniform in [0, 1]^{WIDTH}, "
             f"noiseless outputs, the box constraint, {args.iters} iterations from mid-grey, 1 torch thread. "
             f"Relative error of the input / relative misfit of the output (seconds), means over the "
             f"{len(args.seeds)} seeds {', '.join(map(str, args.seeds))} (network and inputs); the lowest "
             "error of a row in bold.", ""]
    labels = [m["label"] for m in METHODS]
    lines += ["| activation | depth | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]

    def mean(items, key):
        return sum(r[key] for r in items) / len(items)

    for act in dict.fromkeys(r["activation"] for r in rows):
        for depth in dict.fromkeys(r["depth"] for r in rows if r["activation"] == act):
            case = {label: [r for r in rows if (r["activation"], r["depth"], r["method"]) == (act, depth, label)]
                    for label in labels}
            best = min(mean(case[label], "error") for label in labels)
            cells = []
            for label in labels:
                err = mean(case[label], "error")
                text = f"{err:.4f}" if err > best else f"**{err:.4f}**"
                cells.append(f"{text} / {mean(case[label], 'misfit'):.1e} ({mean(case[label], 'seconds'):.1f} s)")
            lines.append(f"| {act} | {depth} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--activations", nargs="+", choices=sorted(ACTIVATIONS), default=["tanh", "sigmoid", "hardtanh"])
    p.add_argument("--depths", nargs="+", type=int, default=[5, 10, 20])
    p.add_argument("--iters", type=int, default=500)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("-o", "--out", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 python3 benchmarks/invert_deep_mlp.py " + " ".join(argv or sys.argv[1:])
    rows = [row for act in args.activations for depth in args.depths for seed in args.seeds
            for row in run_case(depth, act, samples=args.samples, iters=args.iters, seed=seed)]
    if args.out is not None:
        write_report(args.out, "invert_deep_mlp", {"command": command, "rows": rows}, markdown(rows, command, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
