"""Cost of one lifted training step in backprop steps, for every activation, timed interleaved.

For each activation of :data:`deep_networks.ACTIVATIONS` and ReLU, and each ``--depths``, the MLP
``[20] + [width] * depth + [1]`` of the deep-network benchmark takes training steps on one fixed batch
(``--batch`` samples of its teacher-student task) with

* each lifted method of ``--lifted`` (default: the lifted trainer's default, lifted Bregman BCD with
  the matched weight gradient and Adam weights, ``"lifted-bregman-matched"``, and the same with
  mirror steps, ``"lifted-bregman-mirror"``; names of ``deep_networks.METHODS``), and
* Adam backprop on the same network (``"adam-backprop"``),

alternating ``--rounds`` rounds of ``--steps`` steps of each in one process (after ``--warm-up``
untimed steps of each), one torch thread.  ``--trained N`` first trains every network for N untimed
steps on mini-batches of the teacher-student training set, and ``--fresh`` gives every step a new
mini-batch of it, as training does: the cost of a step in a training run, where the auxiliary
steps are larger than at initialisation.  Interleaving spreads the load of a shared machine over
both trainers; the ratio of the two medians is the lifted step's cost in backprop steps (issue 14's
target: at most 1.1 for every activation), and the ratio of the means the amortised cost, which
counts the lifted steps that refresh the step sizes and monitor the objective.  Writes
``step_ratio.{json,md}`` in ``--out``.

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/step_ratio.py --out benchmarks/results/step_ratio``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from liftinv.restoration.report import write_report

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:  # run as a script it is there already; loaded from a file (the tests) it is not
    sys.path.insert(0, _HERE)
import deep_networks as DEEP  # noqa: E402  (make_net, make_solver, ACTIVATIONS)

LIFTED, BACKPROP = ("lifted-bregman-matched", "lifted-bregman-mirror"), "adam-backprop"
TARGET = 1.1


def batches(args):
    """``next_batch()``: the batch of the next step.  By default one fixed batch of random inputs and
    targets (issue 14's "same batch"); with ``--trained`` or ``--fresh``, mini-batches drawn from the
    deep-network benchmark's teacher-student training set, as training draws them (outside the
    timed region)."""
    gen = torch.Generator().manual_seed(0)
    if not (args.fresh or args.trained):
        x = torch.randn(args.batch, 20, generator=gen)
        y = torch.randn(args.batch, 1, generator=gen)
        fixed = (x, y, torch.arange(args.batch))
        return lambda: fixed
    xtr, ytr = DEEP.LVB.regression_task(args)["data"][:2]

    def draw():
        idx = torch.randint(0, xtr.shape[0], (args.batch,), generator=gen)
        return xtr[idx], ytr[idx], idx
    if args.fresh:
        return draw
    fixed = draw()
    return lambda: fixed


def time_cell(depth: int, activation: str, args) -> list[dict]:
    """Median seconds per step of every lifted method and backprop, interleaved; one row per
    lifted method with its ratio to backprop."""
    next_batch = batches(args)
    solvers = {}
    for method in (*args.lifted, BACKPROP):
        torch.manual_seed(0)
        solver, _ = DEEP.make_solver(method, DEEP.make_net(depth, activation, args), args)
        solver.prepare(args.n_train)
        solvers[method] = solver
    for _ in range(args.trained):  # the networks trained a little, on the same batches
        batch = next_batch()
        for solver in solvers.values():
            solver.step_batch(*batch)
    for solver in solvers.values():
        for _ in range(args.warm_up):
            solver.step_batch(*next_batch())
    times = {m: [] for m in solvers}
    for _ in range(args.rounds):
        for method, solver in solvers.items():
            for _ in range(args.steps):
                batch = next_batch()
                t0 = time.perf_counter()
                solver.step_batch(*batch)
                times[method].append(time.perf_counter() - t0)
    med = {m: statistics.median(t) for m, t in times.items()}
    mean = {m: statistics.fmean(t) for m, t in times.items()}
    return [{"depth": depth, "activation": activation, "method": m, "lifted_ms": 1e3 * med[m],
             "backprop_ms": 1e3 * med[BACKPROP], "ratio": med[m] / med[BACKPROP],
             "ratio_amortised": mean[m] / mean[BACKPROP], "steps_timed": len(times[m])}
            for m in args.lifted]


def markdown(rows: list[dict], command: str) -> str:
    lines = ["# Lifted step cost in backprop steps", "", f"Command: `{command}`", "",
             f"MLP [20] + [width]*depth + [1], batch of the teacher-student task, 1 torch thread, medians of "
             f"interleaved steps; target ratio <= {TARGET}. 'amortised': the ratio of the mean step times, "
             "which counts the steps that refresh the step sizes (every lipschitz_every steps) and monitor "
             "the lifted objective, as a training run pays them; the median leaves them out.", "",
             "| activation | depth | lifted method | lifted ms/step | backprop ms/step | ratio (medians) | "
             "ratio (amortised) |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['activation']} | {r['depth']} | {r['method']} | {r['lifted_ms']:.2f} | {r['backprop_ms']:.2f} | "
              f"{r['ratio']:.2f}{'' if r['ratio'] <= TARGET else ' (missed)'} | "
              f"{r['ratio_amortised']:.2f}{'' if r['ratio_amortised'] <= TARGET else ' (missed)'} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depths", type=int, nargs="+", default=[4, 20])
    p.add_argument("--activations", nargs="+", default=["relu", *DEEP.ACTIVATIONS])
    p.add_argument("--lifted", nargs="+", default=list(LIFTED), choices=DEEP.LIFTED,
                   help="lifted methods to time against backprop (deep_networks.METHODS)")
    DEEP.add_student_options(p)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warm-up", type=int, default=5)
    p.add_argument("--trained", type=int, default=0, metavar="N",
                   help="first N untimed steps of every method on mini-batches of the teacher-student training "
                        "set (the step of a network in training, not at its initialisation)")
    p.add_argument("--fresh", action="store_true",
                   help="every step on a new mini-batch of that training set, as training runs (default: one "
                        "fixed batch, issue 14's measure)")
    p.add_argument("--n-train", type=int, default=32000, help="teacher-student samples (--trained, --fresh)")
    p.add_argument("--n-test", type=int, default=100, help=argparse.SUPPRESS)
    p.add_argument("-o", "--out", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from liftinv import tune_cpu_allocator

    tune_cpu_allocator()
    command = "OMP_NUM_THREADS=1 python3 benchmarks/step_ratio.py " + " ".join(argv or sys.argv[1:])
    rows = []
    for activation in args.activations:
        for depth in args.depths:
            for r in time_cell(depth, activation, args):
                rows.append(r)
                print(f"{activation} depth {depth} {r['method']}: lifted {r['lifted_ms']:.2f} ms, "
                      f"backprop {r['backprop_ms']:.2f} ms, ratio {r['ratio']:.2f} "
                      f"(amortised {r['ratio_amortised']:.2f})", flush=True)
    if args.out is not None:
        write_report(args.out, "step_ratio", {"command": command, "rows": rows}, markdown(rows, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
