"""Lifted training in two minutes: a ReLU network trained without backpropagation.

A 4-layer ReLU MLP learns a teacher network (regression) and a small CNN learns to
tell the scikit-image pictures apart from 16x16 patches (classification).  Each
is trained by lifted Bregman block-coordinate descent (one sweep of mirror steps
over the auxiliaries from the last layer to the first, penalty weight 10, weights by
Adam on the sigma-free matched gradient: the settings of benchmarks/lifted_vs_backprop.py)
and, for reference, by ordinary backprop with Adam, for the same number of seconds.

Every epoch reports the lifted objective, the constraint violation and the true
network loss; the script writes a figure and a JSON summary.

    python3 demos/lifted_training.py [--budget 20] [-o results/lifted_training]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from liftinv import BCD, CNN, MLP, Backprop, LiftedProblem, fit  # noqa: E402
from liftinv.cli import report_errors  # noqa: E402
from liftinv.data import patch_classification_dataset  # noqa: E402
from liftinv.restoration.arguments import DEVICE_HELP, device_name, seconds  # noqa: E402
from liftinv.solvers import Adam, accuracy  # noqa: E402
from liftinv.utils.allocator import tune_cpu_allocator  # noqa: E402
from liftinv.utils.checks import resolve_device  # noqa: E402


def teacher_student(n_train=4000, n_test=1000, dim=20, seed=0):
    """Targets of a random 4-layer ReLU teacher, normalised to unit standard deviation."""
    torch.manual_seed(seed)
    teacher = MLP([dim, 32, 32, 32, 1], "relu")
    for p in teacher.parameters():
        p.data.mul_(1.5)
    x = torch.randn(n_train + n_test, dim)
    with torch.no_grad():
        y = teacher(x)
    y = y / y.std()
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def solvers(net_factory):
    """The two trainers compared, each on a fresh copy of the same initial network."""
    return {
        "lifted Bregman BCD": lambda: BCD(
            LiftedProblem(net_factory(), lam=10.0), weights=Adam(lr=1e-3), order="backward",
            gradient="matched", monitor_every=5, lipschitz_every=5,
        ),
        "backprop (Adam)": lambda: Backprop(net_factory(), lr=1e-3),
    }


def run_task(name, net_factory, data, budget, device, metrics=None):
    x_tr, y_tr, x_te, y_te = data
    results = {}
    for label, make in solvers(net_factory).items():
        torch.manual_seed(0)
        solver = make()
        print(f"\n[{name}] {label}: {budget:.0f} s on {device}")
        hist = fit(solver, x_tr, y_tr, x_test=x_te, y_test=y_te, time_budget=budget,
                   batch_size=64, metrics=metrics, device=device, desc=label)
        shown = hist[:: max(1, len(hist) // 6)]
        for r in shown + ([hist.final] if shown[-1] is not hist.final else []):
            extra = f"  test acc {r['test_accuracy']:.3f}" if "test_accuracy" in r else ""
            print(f"  epoch {r['epoch']:3d}  {r['seconds']:6.1f}s  lifted {r['lifted']:.4f}  "
                  f"violation {r['violation']:.2e}  train loss {r['train_loss']:.4f}  "
                  f"test loss {r['test_loss']:.4f}{extra}")
        results[label] = list(hist)
    return results


def plot(all_results, path):
    fig, axes = plt.subplots(1, len(all_results), figsize=(5 * len(all_results), 3.6))
    for ax, (task, results) in zip(axes, all_results.items()):
        for label, hist in results.items():
            ax.plot([r["seconds"] for r in hist], [r["test_loss"] for r in hist], marker=".", label=label)
        ax.set(title=task, xlabel="training seconds", ylabel="test loss", yscale="log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=seconds, default=20.0, help="seconds per trainer and task")
    parser.add_argument("-o", "--output", "--out", default="results/lifted_training", help="output folder")
    parser.add_argument("--device", type=device_name, default=None, help=DEVICE_HELP)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    device = str(resolve_device(args.device, "--device"))  # before the output folder is made
    tune_cpu_allocator()  # reuse large CPU blocks between steps (liftinv.utils.allocator)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    regression = teacher_student()
    xc, lc, xct, lct = patch_classification_dataset(size=16, n_per_image=256, seed=0)
    n_cls = int(lc.max()) + 1
    classification = (xc, F.one_hot(lc, n_cls).float(), xct, F.one_hot(lct, n_cls).float())

    def mlp():
        torch.manual_seed(1)
        return MLP([20, 64, 64, 64, 1], "relu")

    def cnn():
        torch.manual_seed(1)
        return CNN((1, 16, 16), channels=(8, 16), out_features=n_cls, last_activation="softmax")

    results = {
        "teacher-student MLP (squared error)": run_task("regression", mlp, regression, args.budget, device),
        "patch classifier CNN (cross-entropy)": run_task(
            "classification", cnn, classification, args.budget, device, metrics={"accuracy": accuracy}
        ),
    }
    plot(results, out / "lifted_training.png")
    tmp = out / "lifted_training.json.tmp"
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, out / "lifted_training.json")
    print("\nFinal test loss (lower is better):")
    for task, res in results.items():
        print(f"  {task}: " + ", ".join(f"{k} {v[-1]['test_loss']:.4f}" for k, v in res.items()))
    print(f"Figure and JSON written to {out}/")


if __name__ == "__main__":
    sys.exit(report_errors("demos/lifted_training.py", main))  # one `error:` line, as the liftinv command
