"""The auxiliary step of the matched sweep, at equal steps over several seeds: prox or mirror, large or small.

``BCD(gradient="matched")`` moves each auxiliary block once from the forward pass and reads the
weight gradient off the displacement (docs/maths.md, "The matched sweep").  The block step is the
prox of the block (``aux_step="prox"``) or the mirror step in the geometry of the activation's
``phi`` (``aux_step="mirror"``), of size ``step_scale / L_m``.  This benchmark trains the MLPs of
``deep_networks.py`` (teacher-student regression, ``MLP([20] + [32]*depth + [1])``, batch 64, Adam
lr 1e-3, lam 10) for the same number of steps with each ``--variants`` entry (``STEP:SCALE``, e.g.
``mirror:0.01``) and with Adam backprop, on the same data order and initial weights per seed, and
reports the final test loss: mean and range over ``--seeds``.  Steps, not seconds: the step cost is
``step_ratio.py``'s question.

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/aux_steps.py --out benchmarks/results/aux_steps``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from liftinv import BCD, Backprop, LiftedProblem, fit
from liftinv.restoration.report import write_report
from liftinv.solvers import Adam

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:  # run as a script it is there already; loaded from a file (the tests) it is not
    sys.path.insert(0, _HERE)
import deep_networks as DEEP  # noqa: E402  (make_net, regression data, ACTIVATIONS)

BACKPROP = "backprop"


def parse_variant(text: str) -> tuple[str, float]:
    """``'mirror:0.01'`` -> ``('mirror', 0.01)``."""
    step, sep, scale = text.partition(":")
    if not sep or step not in ("prox", "mirror"):
        raise SystemExit(f"--variants: expected prox:SCALE or mirror:SCALE, got {text!r}")
    return step, float(scale)


def make_solver(variant: str, net, args):
    if variant == BACKPROP:
        return Backprop(net, lr=args.lr)
    step, scale = parse_variant(variant)
    return BCD(LiftedProblem(net, "bregman", lam=args.lam), weights=Adam(lr=args.lr), gradient="matched",
               aux_step=step, step_scale=scale, order="backward", monitor_every=50, lipschitz_every=10)


def run(args) -> list[dict]:
    xtr, ytr, xte, yte = DEEP.LVB.regression_task(args)["data"]
    rows = []
    for activation in args.activations:
        for depth in args.depths:
            for variant in [BACKPROP, *args.variants]:
                losses = []
                for seed in args.seeds:
                    torch.manual_seed(seed)  # the same initial weights for every variant
                    net = DEEP.make_net(depth, activation, args)
                    hist = fit(make_solver(variant, net, args), xtr, ytr, x_test=xte, y_test=yte, epochs=args.epochs,
                               batch_size=args.batch, seed=seed, progress=False)
                    losses.append(hist.final["test_loss"])
                rows.append({"activation": activation, "depth": depth, "variant": variant, "test_loss": losses,
                             "mean": statistics.mean(losses)})
                print(f"{activation} depth {depth} {variant}: test loss mean {rows[-1]['mean']:.4f} "
                      f"({min(losses):.4f}..{max(losses):.4f})", flush=True)
    return rows


def markdown(rows: list[dict], args, command: str) -> str:
    steps = args.epochs * (args.n_train // args.batch)
    lines = ["# The matched sweep's auxiliary step, at equal steps", "", f"Command: `{command}`", "",
             f"Teacher-student regression, students `MLP([20] + [{args.width}]*depth + [1])`, {steps} steps of batch "
             f"{args.batch}, Adam lr {args.lr:g}, lam {args.lam:g}; test loss (0.50: nothing learned), mean "
             f"(min..max) over seeds {args.seeds}. `STEP:SCALE` = `BCD(gradient='matched', aux_step=STEP, "
             "step_scale=SCALE)`.", "",
             "| activation | depth | " + " | ".join([BACKPROP, *args.variants]) + " |",
             "|---|---|" + "---|" * (1 + len(args.variants))]
    for activation in args.activations:
        for depth in args.depths:
            cells = [r for r in rows if r["activation"] == activation and r["depth"] == depth]
            lines.append(f"| {activation} | {depth} | " + " | ".join(
                f"{r['mean']:.4f} ({min(r['test_loss']):.4f}..{max(r['test_loss']):.4f})" for r in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=["prox:1", "mirror:1", "mirror:0.01"])
    p.add_argument("--activations", nargs="+", default=["relu", "tanh", "sigmoid", "hardtanh", "softthreshold"])
    p.add_argument("--depths", type=int, nargs="+", default=[4, 20])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=6, help="epochs of the 32000 training samples (500 steps each)")
    DEEP.add_student_options(p)
    p.add_argument("--n-train", type=int, default=32000)
    p.add_argument("--n-test", type=int, default=4000)
    p.add_argument("-o", "--out", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    for v in args.variants:
        parse_variant(v)
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 python3 benchmarks/aux_steps.py " + " ".join(argv or sys.argv[1:])
    start = time.time()
    rows = run(args)
    if args.out is not None:
        write_report(args.out, "aux_steps", {"command": command, "seconds": time.time() - start, "rows": rows},
                     markdown(rows, args, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
