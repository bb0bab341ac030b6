"""Lifted BCD against Adam backprop at equal wall-clock, on two small tasks.

Tasks (fixed seeds, same data and same initial weights for every method):

* ``regression``: teacher-student regression. Teacher ``MLP([20,32,32,32,1])`` (ReLU, weights
  x1.5), inputs ``x ~ N(0, I)``, targets normalised to unit std; student ``MLP([20,64,64,64,1])``.
  Loss = the package's loss for an identity output: ``1/2 * (prediction - y)^2`` per sample.
* ``classification``: ``CNN((1,16,16), channels=(8,16))`` with a softmax output on 16x16
  grayscale patches of the 9 embedded scikit-image images, labelled by source image
  (:func:`liftinv.data.patch_classification_dataset`). Loss = cross-entropy.

Methods: lifted Bregman, MAC and Fenchel penalties with Adam on the lifted weight gradients
(defaults: one backward auxiliary sweep per step, the matched sweep with the forward-anchored
weight gradient ``--gradient matched``, hidden-layer penalty weight ``lam=10``; Fenchel keeps the authors' weight
1), plain prox-grad lifted Bregman (Lipschitz steps, no Adam, the gradient at the auxiliaries)
and Adam backprop.
Each trains for the same wall-clock budget (``--budget`` training seconds, evaluation excluded)
with batch 64 through :func:`liftinv.fit`. Outputs ``lifted_vs_backprop.{json,md,png}``.

Usage: ``python3 benchmarks/lifted_vs_backprop.py --budget 60 --out benchmarks/results``
(``--quick`` for a smoke run of a few seconds per method). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from liftinv import BCD, CNN, MLP, Backprop, LiftedProblem, fit, tune_cpu_allocator
from liftinv.data import patch_classification_dataset
from liftinv.solvers import Adam, PenaltySchedule, ProxGrad, accuracy

TARGET = 1.10  # lifted Bregman test loss must be <= TARGET x Adam backprop's
BCD_COMMON = dict(monitor_every=10, lipschitz_every=10)  # + --aux-iters, --order, --lam
# name -> (penalty, weight step name); None = Adam backprop.
METHODS = {
    "lifted-bregman": ("bregman", "adam"),
    "mac": ("mac", "adam"),
    "fenchel": ("fenchel", "adam"),
    "bregman-prox-grad": ("bregman", "prox-grad"),
    "adam-backprop": None,
}
REFERENCE, LIFTED = "adam-backprop", "lifted-bregman"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--budget", type=float, help="training seconds per method and task (60; 2 with --quick)")
    add("-o", "--output", "--out", default="benchmarks/results", help="output folder")
    add("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add("--lr", type=float, default=1e-3, help="Adam learning rate (lifted Adam rows, backprop)")
    add("--aux-iters", type=int, default=1, help="auxiliary sweeps per lifted step")
    add("--order", default="backward", choices=["even-odd", "backward"], help="aux sweep order")
    add("--gradient", default="matched", choices=["matched", "forward", "aux"],
        help="weight gradient of the Adam rows: the matched sweep (the trainers' default), forward-anchored, "
             "or at the auxiliaries")
    add("--lam", type=float, default=10.0, help="hidden-layer penalty weight of the lifted rows")
    add("--lam-growth", type=float, default=1.0, help="per-step growth of the penalty weight (1: fixed)")
    add("--lam-max", type=float, default=1e4, help="cap of the growing penalty weight")
    add("--batch-size", type=int, default=64)
    add("--n-train", type=int, default=32000, help="regression training samples")
    add("--n-test", type=int, default=4000, help="regression test samples")
    add("--patches", type=int, default=432, help="patches per image (classification; 432 = all)")
    add("--threads", type=int, default=1, help="torch CPU threads (1: robust to CPU contention)")
    add("--seed", type=int, default=0, help="seed of the student networks and shuffling")
    add("--quick", action="store_true", help="smoke run: 2 s budget and small data")
    add("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.patches = 2000, 500, 64
    if args.budget is None:
        args.budget = 2.0 if args.quick else 60.0
    return args


# -- tasks ---------------------------------------------------------------------------------------
def regression_task(args) -> dict:
    torch.manual_seed(1)
    teacher = MLP([20, 32, 32, 32, 1], "relu")
    with torch.no_grad():
        for p in teacher.parameters():
            p.mul_(1.5)
        x = torch.randn(args.n_train + args.n_test, 20, generator=torch.Generator().manual_seed(2))
        y = teacher(x)
    y = (y - y.mean()) / y.std()
    n = args.n_train
    return dict(
        name="regression", data=(x[:n], y[:n], x[n:], y[n:]), metrics=None,
        make_net=lambda: MLP([20, 64, 64, 64, 1], "relu"),
        description="teacher-student, 4-layer ReLU MLP 20-64-64-64-1, "
        f"{n} train / {args.n_test} test",
        loss="1/2 (prediction - y)^2 per sample (targets have unit std)",
    )


def classification_task(args) -> dict:
    xtr, ytr, xte, yte = patch_classification_dataset(size=16, n_per_image=args.patches, seed=0)
    k = int(ytr.max()) + 1
    onehot = lambda t: torch.nn.functional.one_hot(t, k).float()  # noqa: E731
    return dict(
        name="classification", data=(xtr, onehot(ytr), xte, onehot(yte)),
        metrics={"accuracy": accuracy},
        make_net=lambda: CNN((1, 16, 16), (8, 16), out_features=k, last_activation="softmax"),
        description=f"CNN conv8-conv16-dense{k} (softmax), 16x16 patches of {k} images, "
        f"{len(xtr)} train / {len(xte)} test",
        loss="cross-entropy (nats)",
    )


# -- one run -------------------------------------------------------------------------------------
def make_solver(method: str, net, args):
    if METHODS[method] is None:
        return Backprop(net, lr=args.lr), dict(optimizer="Adam", lr=args.lr)
    penalty, weight_step = METHODS[method]
    weights = Adam(lr=args.lr) if weight_step == "adam" else ProxGrad()
    # Fenchel: the authors' penalty with weight 1 (it is 2x the Bregman penalty)
    lam = 1.0 if penalty == "fenchel" else args.lam
    schedule = (PenaltySchedule() if penalty == "fenchel"  # Fenchel's weights are the authors' fixed multipliers
                else PenaltySchedule(growth=args.lam_growth, max=args.lam_max))
    gradient = args.gradient if weight_step == "adam" else "aux"  # Lipschitz steps: plain BCD on E
    solver = BCD(LiftedProblem(net, penalty, lam=lam), weights=weights, schedule=schedule, **BCD_COMMON,
                 aux_iters=args.aux_iters, order=args.order, gradient=gradient)
    return solver, dict(penalty=penalty, lam=lam, weight_update=weight_step, **solver.config)


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if torch.is_tensor(t))


def optimizer_state_bytes(solver) -> int:
    opt = solver.optimizer if isinstance(solver, Backprop) else solver
    out = 0
    for st in opt.state.values():
        for v in st.values():
            vals = v.values() if isinstance(v, dict) else v if isinstance(v, list | tuple) else [v]
            out += tensor_bytes(vals)
    return out


def thin(history, keys, max_points=60) -> list[dict]:
    """At most ~``max_points`` evenly spread epoch records (always the last), ``keys`` rounded."""
    step = max(1, math.ceil(len(history) / max_points))
    picked = history[::step] if (len(history) - 1) % step == 0 else history[::step] + [history[-1]]
    rnd = lambda v: float(f"{v:.5g}") if isinstance(v, float) else v  # noqa: E731
    return [{k: rnd(r[k]) for k in keys if k in r} for r in picked]


def warm_up(task: dict, args, steps: int = 20) -> None:
    """Untimed steps of every method, so the first timed run pays no one-off start-up costs."""
    xtr, ytr = (t[: args.batch_size].to(args.device) for t in task["data"][:2])
    for method in METHODS:
        solver, _ = make_solver(method, task["make_net"]().to(args.device), args)
        solver.prepare(xtr.shape[0])
        for _ in range(steps):
            solver.step_batch(xtr, ytr, torch.arange(xtr.shape[0], device=args.device))


def run(task: dict, method: str, args, reference_init: dict) -> dict:
    device = torch.device(args.device)
    torch.manual_seed(args.seed)  # same initial weights for every method
    net = task["make_net"]().to(device)
    assert all(torch.equal(p.cpu(), reference_init[k]) for k, p in net.state_dict().items())
    xtr, ytr, xte, yte = (t.to(device) for t in task["data"])
    solver, settings = make_solver(method, net, args)
    load_before = os.getloadavg()[0]
    hist = fit(solver, xtr, ytr, x_test=xte, y_test=yte, time_budget=args.budget,
               batch_size=args.batch_size, metrics=task["metrics"], seed=args.seed, device=device,
               progress=not args.no_progress, desc=f"{task['name']}/{method}")
    final = hist.final
    params = tensor_bytes(list(net.parameters()))
    aux = 4 * args.batch_size * sum(math.prod(s) for s in net.state_shapes[1:-1])
    opt_state = optimizer_state_bytes(solver)
    rec = dict(
        task=task["name"], method=method, settings=dict(settings, batch_size=args.batch_size),
        epochs=final["epoch"], iterations=final["iterations"], seconds=final["seconds"],
        iters_per_second=final["iterations"] / final["seconds"],
        ms_per_step=1e3 * final["seconds"] / final["iterations"],
        train_loss=final["train_loss"], test_loss=final["test_loss"],
        lifted=final["lifted"], violation=final["violation"],
        memory=dict(parameter_bytes=params, optimizer_state_bytes=opt_state, aux_batch_bytes=aux,
                    analytic_bytes=params + opt_state + aux),
        loadavg_1min=[load_before, os.getloadavg()[0]],
        curve=thin(hist, ["epoch", "seconds", "iterations", "train_loss", "test_loss",
                          "test_accuracy"]),
    )
    if task["metrics"]:
        rec.update(train_accuracy=final["train_accuracy"], test_accuracy=final["test_accuracy"])
    if device.type == "cuda":  # measured transient memory of one step, after training
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        idx = torch.arange(args.batch_size, device=device)
        for _ in range(3):
            solver.step_batch(xtr[idx], ytr[idx], idx)
        rec["memory"]["cuda_step_peak_bytes"] = torch.cuda.max_memory_allocated(device) - base
    return rec


# -- reporting -----------------------------------------------------------------------------------
def machine_info(args, argv, script: str = "lifted_vs_backprop.py") -> dict:
    info = Path("/proc/cpuinfo")
    names = [ln.split(":", 1)[1].strip() for ln in (info.read_text() if info.exists() else "")
             .splitlines() if ln.startswith("model name")]

    def git(*a):
        cwd = Path(__file__).parent
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=cwd).stdout.strip()

    return dict(
        command=f"python3 benchmarks/{script} " + shlex.join(argv),
        torch=torch.__version__, python=platform.python_version(),
        threads=torch.get_num_threads(), cpu=names[0] if names else platform.processor(),
        cpu_count=os.cpu_count(), device=args.device,
        gpu=torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
        git_commit=git("rev-parse", "--short", "HEAD"),
        git_dirty=git("status", "--porcelain", "liftinv"),
        date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    )


def summarise(records: list[dict]) -> dict:
    """Per task: Adam-relative step-time ratios and the lifted Bregman target check."""
    out = {}
    for task in dict.fromkeys(r["task"] for r in records):
        rows = {r["method"]: r for r in records if r["task"] == task}
        ref = rows[REFERENCE]
        for r in rows.values():
            r["step_time_ratio"] = r["ms_per_step"] / ref["ms_per_step"]
            r["test_loss_ratio"] = r["test_loss"] / ref["test_loss"]
        ratio = rows[LIFTED]["test_loss_ratio"]
        out[task] = dict(lifted_over_adam_test_loss=ratio, target=TARGET,
                         target_met=bool(ratio <= TARGET),
                         lifted_over_adam_step_time=rows[LIFTED]["step_time_ratio"])
    return out


def write_markdown(path: Path, info: dict, tasks, records, summary: dict, budget) -> None:
    gpu = f" ({info['gpu']})" if info["gpu"] else ""
    dirty = " (liftinv modified)" if info["git_dirty"] else ""
    lines = [
        "# Lifted BCD vs Adam backprop at equal wall-clock", "",
        f"Command: `{info['command']}`", "",
        f"torch {info['torch']}, {info['threads']} thread(s), {info['cpu']}, "
        f"device `{info['device']}`{gpu}; git {info['git_commit']}{dirty}; {info['date']}. "
        f"Budget {budget:g} s of training per method and task (evaluation excluded); same data, "
        "initial weights and batch size for all.", "",
    ]
    for task in tasks:
        rows = [r for r in records if r["task"] == task["name"]]
        acc = task["metrics"] is not None
        s = summary[task["name"]]
        lines += [f"## {task['name']}: {task['description']}", "", f"Loss: {task['loss']}.", ""]
        head = ["method", "train loss", "test loss"] + (["train acc", "test acc"] if acc else [])
        head += ["test loss / Adam", "seconds", "iterations", "it/s", "ms/step",
                 "step time / Adam", "memory KiB"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [r["method"], f"{r['train_loss']:.4g}", f"{r['test_loss']:.4g}"]
            cells += [f"{r['train_accuracy']:.3f}", f"{r['test_accuracy']:.3f}"] if acc else []
            cells += [f"{r['test_loss_ratio']:.3f}", f"{r['seconds']:.1f}", str(r["iterations"]),
                      f"{r['iters_per_second']:.0f}", f"{r['ms_per_step']:.2f}",
                      f"{r['step_time_ratio']:.2f}", f"{r['memory']['analytic_bytes'] / 1024:.1f}"]
            lines.append("| " + " | ".join(cells) + " |")
        met = "met" if s["target_met"] else "not met"
        pct = f"{100 * (TARGET - 1):.0f}%"
        lines += ["", f"Target (lifted Bregman test loss within {pct} of Adam's at equal "
                  f"wall-clock): ratio {s['lifted_over_adam_test_loss']:.3f} -> **{met}**. "
                  "Lifted Bregman step time / Adam step time: "
                  f"{s['lifted_over_adam_step_time']:.2f}.", ""]
    lines += ["Memory KiB = parameters + optimizer state (tensors held by the solver after "
              "training, incl. Adam moments and power-iteration vectors) + one batch of hidden "
              "states (batch x sum of hidden-layer sizes x 4 bytes: the lifted auxiliaries, or for "
              "backprop the hidden activations autograd keeps, a lower bound there). "
              "Analytic/observed sizes, not a process peak; see README.md.", ""]
    path.write_text("\n".join(lines))


def plot(path: Path, tasks: list[dict], records: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 3.8))
    for ax, task in zip(axes, tasks):
        for r in (r for r in records if r["task"] == task["name"]):
            c = r["curve"]
            ax.plot([p["seconds"] for p in c], [p["test_loss"] for p in c], label=r["method"],
                    lw=2.2 if r["method"] in (LIFTED, REFERENCE) else 1.2)
        ax.set(title=task["name"], xlabel="training seconds",
               ylabel=f"test loss ({task['loss'].split(' per')[0]})")
        ax.set_yscale("log" if task["name"] == "regression" else "linear")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def start_run(args, argv, out: str, script: str = "lifted_vs_backprop.py") -> tuple[Path, dict]:
    """Threads and malloc set as the command line does, the output folder made; the folder and
    the machine description of the run (shared with ``deep_networks.py``)."""
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()  # large tensors reuse their memory between steps
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return out, machine_info(args, argv, script)


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    out, info = start_run(args, argv, args.output)
    tasks = [regression_task(args), classification_task(args)]
    records = []
    t0 = time.perf_counter()
    for task in tasks:
        warm_up(task, args)
        torch.manual_seed(args.seed)
        init = {k: v.clone() for k, v in task["make_net"]().state_dict().items()}
        for method in METHODS:
            rec = run(task, method, args, init)
            records.append(rec)
            print(f"{task['name']:>14} {method:>18}: test loss {rec['test_loss']:.4g}, "
                  f"{rec['iterations']} it in {rec['seconds']:.1f} s", flush=True)
    summary = summarise(records)
    info["wall_seconds"] = time.perf_counter() - t0
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "no_progress")}
    result = dict(machine=info, settings=settings, summary=summary, records=records,
                  tasks={t["name"]: dict(description=t["description"], loss=t["loss"])
                         for t in tasks})
    (out / "lifted_vs_backprop.json").write_text(json.dumps(result, indent=1))
    write_markdown(out / "lifted_vs_backprop.md", info, tasks, records, summary, args.budget)
    plot(out / "lifted_vs_backprop.png", tasks, records)
    print(f"wrote {out}/lifted_vs_backprop.{{json,md,png}} in {info['wall_seconds']:.0f} s; "
          f"summary: {summary}")
    return result


if __name__ == "__main__":
    main()
