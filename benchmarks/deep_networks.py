"""Deep MLPs with saturating or non-smooth proximal activations: lifted BCD, MAC and Adam backprop.

Item 4 of issue 14 ("where lifting wins"): does lifted training beat backprop on deep networks
whose activations saturate (tanh, sigmoid, hard-tanh) or cut small signals (soft-threshold), where
back-propagated gradients shrink layer after layer?

Task: the teacher-student regression of ``benchmarks/lifted_vs_backprop.py`` (teacher
``MLP([20,32,32,32,1])``, ReLU, weights x1.5, seed 1; ``x ~ N(0, I)``, seed 2; targets normalised
to unit std), students ``MLP([20] + [width]*depth + [1], activation)`` with an identity output.
Loss ``1/2 (prediction - y)^2`` per sample; the targets have unit variance, so a constant
prediction has loss 0.50.

Methods (same initial weights and data order within a cell): lifted Bregman BCD with Adam on the
forward-anchored lifted gradient (``gradient="forward"``), with equal penalty weights ``--lam``
or with geometric ones (``lifted-bregman-geometric``: :func:`liftinv.lifting.geometric_weights`,
``lam_l = lam * ratio^(L-1-l)``, auxiliary steps ``1.9/L_m``), or on the classic gradient at the
auxiliaries (``gradient="aux"``), the MAC quadratic penalty, and Adam backprop, each for the same
training wall-clock (``--budget`` seconds per depth, activation and method).

Diagnostics per cell, at initialisation and after training, on one fixed batch of 256 training
samples: per layer the back-propagated weight gradient norm, the displacement of the auxiliaries
after one backward lifted Bregman sweep from the forward pass, the forward-anchored (and the
aux) lifted weight gradient norms, and their cosines with the back-propagated gradient.

Outputs ``deep_networks.{json,md,png}`` and ``deep_networks_signals.png`` in ``--out``.

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/deep_networks.py --no-progress``
(``--quick`` for a smoke run of a few seconds). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import torch

from liftinv import BCD, MLP, Backprop, LiftedProblem, fit
from liftinv.activations import get_activation
from liftinv.lifting import geometric_weights
from liftinv.solvers import Adam


def _load_sibling(name: str):
    """The benchmark script ``name``.py of this folder, as a module (its helpers are reused)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LVB = _load_sibling("lifted_vs_backprop")  # regression_task, machine_info, thin

TARGET = 2.0  # issue 14: a lifted method reaches at least 2x lower test loss than backprop
NOTHING_LEARNED = 0.5  # the loss of predicting 0 = the mean, on unit-variance targets
DIAG_BATCH = 256
#: + weights=Adam(lr=--lr); the lifted objective monitored every 50 steps, as by the restoration trainer
BCD_COMMON = dict(order="backward", monitor_every=50, lipschitz_every=10)
# name -> (penalty, weight gradient, auxiliary step); None = Adam backprop.
METHODS = {
    "lifted-bregman-matched": ("bregman", "matched", "prox"),  # matched sweep, prox steps (default until 2026-12-07)
    "lifted-bregman-mirror": ("bregman", "matched", "mirror"),  # the matched sweep with mirror steps (the default)
    "lifted-bregman-geometric": ("bregman", "forward", "prox"),  # + geometric penalty weights, step scale 1.9
    "lifted-bregman": ("bregman", "forward", "prox"),
    "lifted-bregman-aux": ("bregman", "aux", "prox"),
    "mac": ("mac", "aux", "prox"),
    "lifted-fenchel-mirror": ("fenchel", "matched", "mirror"),  # ReLU only; the authors' weight 1
    "adam-backprop": None,
}
REFERENCE = "adam-backprop"
LIFTED = [m for m in METHODS if m != REFERENCE]
# benchmark name -> (registry name, parameters); other names go to get_activation as they are
ACTIVATIONS = {
    "tanh": ("tanh", {}),
    "sigmoid": ("sigmoid", {}),
    "hardtanh": ("hardtanh", {}),  # clip to [-1, 1]
    "softthreshold": ("soft_threshold", {}),  # threshold: --soft-threshold
}


def add_student_options(p: argparse.ArgumentParser) -> None:
    """The students' and trainers' settings, shared with ``step_ratio.py`` and ``aux_steps.py``."""
    add = p.add_argument
    add("--width", type=int, default=32, help="hidden width of the students")
    add("--batch", type=int, default=64, help="mini-batch size")
    add("--lr", type=float, default=1e-3, help="Adam learning rate (lifted rows and backprop)")
    add("--lam", type=float, default=10.0, help="hidden-layer penalty weight of the lifted rows")
    add("--ratio", type=float, default=0.2, help="geometric rows: lam_l = lam * ratio^(L-1-l)")
    add("--soft-threshold", type=float, default=0.05, help="threshold of the soft-threshold activation")
    add("--init", choices=("torch", "he"), default="torch",
        help="initial weights: nn.Linear's default (torch) or He-normal with zero biases (he)")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_student_options(p)
    add = p.add_argument
    add("--depths", type=int, nargs="+", help="hidden layers of the students (10 20 50; 3 6 with --quick)")
    add("--activations", nargs="+",
        help=f"hidden activations: {' '.join(ACTIVATIONS)} or a liftinv registry name "
        "(all four; tanh softthreshold with --quick)")
    add("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
        help=f"methods to run (all by default; {REFERENCE} is always run: the ratios are to it)")
    add("--budget", type=float, help="training seconds per depth, activation and method (20; 0.5 with --quick)")
    add("-o", "--out", "--output", default="benchmarks/results/deep_networks", help="output folder")
    add("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add("--n-train", type=int, default=32000, help="training samples (4000 with --quick)")
    add("--n-test", type=int, default=4000, help="test samples (1000 with --quick)")
    add("--warm-up", type=int, default=10, help="untimed steps of every method before an activation's first cell")
    add("--threads", type=int, default=1, help="torch CPU threads (1: robust to CPU contention)")
    add("--seed", type=int, default=0, help="seed of the student networks and shuffling")
    add("--quick", action="store_true", help="smoke run: depths 3 6, two activations, 0.5 s budget, small data")
    add("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test = 4000, 1000
    if args.depths is None:
        args.depths = [3, 6] if args.quick else [10, 20, 50]
    if args.activations is None:
        args.activations = ["tanh", "softthreshold"] if args.quick else list(ACTIVATIONS)
    if args.budget is None:
        args.budget = 0.5 if args.quick else 20.0
    args.methods = [m for m in METHODS if m in args.methods or m == REFERENCE]
    args.batch_size = args.batch  # the name regression_task and machine_info's callers use
    return args


def make_activation(name: str, args):
    key, kwargs = ACTIVATIONS.get(name, (name, {}))
    if key == "soft_threshold":
        kwargs = dict(kwargs, threshold=args.soft_threshold)
    return get_activation(key, **kwargs)


def make_net(depth: int, activation: str, args) -> MLP:
    """The student; ``args.init == 'he'``: He-normal weights (ReLU gain, fan-in) and zero biases
    instead of ``nn.Linear``'s default (uniform, variance 1/(3 fan-in): it shrinks with depth)."""
    net = MLP([20] + [args.width] * depth + [1], make_activation(activation, args))
    if getattr(args, "init", "torch") == "he":
        with torch.no_grad():
            for layer in net.layers:
                torch.nn.init.kaiming_normal_(layer.linear.weight, nonlinearity="relu")
                layer.linear.bias.zero_()
    return net


def make_solver(method: str, net, args):
    """The solver and its settings; ``ValueError`` (incl. NotProximalError) if the penalty refuses."""
    if METHODS[method] is None:
        return Backprop(net, lr=args.lr), dict(optimizer="Adam", lr=args.lr)
    penalty, gradient, aux_step = METHODS[method]
    lam, extra = (1.0 if penalty == "fenchel" else args.lam), {}  # Fenchel: as lifted_vs_backprop.py
    if method.endswith("-geometric"):  # lam_l = lam * ratio^(L-1-l), aux steps 1.9 / L_m
        lam, extra = geometric_weights(net.depth, top=args.lam, ratio=args.ratio), {"step_scale": 1.9}
    solver = BCD(LiftedProblem(net, penalty, lam=lam), weights=Adam(lr=args.lr), gradient=gradient,
                 aux_step=aux_step, **BCD_COMMON, **extra)
    return solver, dict(penalty=penalty, lam=lam, **solver.config)


# -- diagnostics ---------------------------------------------------------------------------------
def _norm(t) -> float:
    return float(t.norm())


def _cosine(a, b) -> float | None:
    na, nb = float(a.norm()), float(b.norm())
    return float((a * b).sum()) / (na * nb) if na > 0 and nb > 0 else None  # undefined at 0


def diagnostics(net, x, y, lam: float) -> dict:
    """Per-layer back-propagated and lifted (Bregman, one backward sweep) signals on ``(x, y)``.

    Lists run over layers 1..L (L = depth + 1, the output layer last), except
    ``lifted_signal_norm``: the hidden layers 1..depth (the output has no auxiliary).
    """
    problem = LiftedProblem(net, "bregman", lam=lam)
    depth = net.depth
    weights = [net.layer(l).linear.weight for l in range(1, depth + 1)]
    with torch.enable_grad():
        loss = problem.loss(x, y)
        backprop = torch.autograd.grad(loss, weights)
    with torch.no_grad():
        states, cache = problem.init_aux(x)
        fwd = list(states)
        problem.aux_sweep(states, y, cache, problem.map_norms(exact=True), 1.0, "backward")
    params = list(net.parameters())

    def of_weights(grads):
        by_id = {id(p): g for p, g in zip(params, grads)}
        return [torch.zeros_like(w) if by_id[id(w)] is None else by_id[id(w)] for w in weights]

    lifted = of_weights(problem.weight_gradients(states, y, params, None, fwd)[0])
    aux = of_weights(problem.weight_gradients(states, y, params)[0])
    return dict(
        loss=float(loss.detach()), batch=x.shape[0],
        backprop_grad_norm=[_norm(g) for g in backprop],
        lifted_signal_norm=[_norm(states[l] - fwd[l]) for l in range(1, depth)],
        lifted_grad_norm=[_norm(g) for g in lifted],
        cosine=[_cosine(a, b) for a, b in zip(lifted, backprop)],
        lifted_aux_grad_norm=[_norm(g) for g in aux],
        aux_cosine=[_cosine(a, b) for a, b in zip(aux, backprop)],
    )


# -- one cell ------------------------------------------------------------------------------------
def warm_up(depth: int, activation: str, data, args) -> None:
    """Untimed steps of every method, so the first timed run pays no one-off start-up costs."""
    xb, yb = (t[: args.batch].to(args.device) for t in data[:2])
    idx = torch.arange(xb.shape[0], device=args.device)
    for method in args.methods:
        try:
            solver, _ = make_solver(method, make_net(depth, activation, args).to(args.device), args)
        except ValueError:
            continue
        solver.prepare(xb.shape[0])
        for _ in range(args.warm_up):
            solver.step_batch(xb, yb, idx)


def run_cell(depth: int, activation: str, data, args) -> list[dict]:
    device = torch.device(args.device)
    xtr, ytr, xte, yte = (t.to(device) for t in data)
    xd, yd = xtr[:DIAG_BATCH], ytr[:DIAG_BATCH]
    torch.manual_seed(args.seed)
    init = {k: v.clone() for k, v in make_net(depth, activation, args).state_dict().items()}
    records, init_diag = [], None
    for method in args.methods:
        torch.manual_seed(args.seed)  # same initial weights for every method
        net = make_net(depth, activation, args).to(device)
        assert all(torch.equal(p.cpu(), init[k]) for k, p in net.state_dict().items())
        cell = dict(depth=depth, activation=activation, method=method)
        if init_diag is None:
            init_diag = diagnostics(net, xd, yd, args.lam)
        try:
            solver, settings = make_solver(method, net, args)
        except ValueError as err:  # the penalty cannot lift this activation
            records.append(dict(cell, skipped=True, reason=f"{type(err).__name__}: {err}"))
            print(f"depth {depth:>3} {activation:>13} {method:>18}: skipped ({err})", flush=True)
            continue
        load_before = os.getloadavg()[0]
        hist = fit(solver, xtr, ytr, x_test=xte, y_test=yte, time_budget=args.budget, batch_size=args.batch,
                   seed=args.seed, device=device, progress=not args.no_progress,
                   desc=f"{depth}/{activation}/{method}")
        final = hist.final
        records.append(dict(
            cell, skipped=False, settings=dict(settings, batch_size=args.batch),
            train_loss=final["train_loss"], test_loss=final["test_loss"], seconds=final["seconds"],
            steps=final["iterations"], epochs=final["epoch"],
            ms_per_step=1e3 * final["seconds"] / final["iterations"],
            lifted=final["lifted"], violation=final["violation"],
            loadavg_1min=[load_before, os.getloadavg()[0]],
            curve=LVB.thin(hist, ["epoch", "seconds", "iterations", "train_loss", "test_loss"]),
            diagnostics=dict(init=init_diag, final=diagnostics(net, xd, yd, args.lam)),
        ))
        r = records[-1]
        print(f"depth {depth:>3} {activation:>13} {method:>18}: test loss {r['test_loss']:.4g}, "
              f"{r['steps']} steps in {r['seconds']:.1f} s", flush=True)
    return records


def summarise(records: list[dict], args) -> dict:
    """Per cell: Adam-relative test losses, the best method, the 2x target; and overall."""
    cells = []
    for depth in args.depths:
        for act in args.activations:
            rows = {r["method"]: r for r in records
                    if r["depth"] == depth and r["activation"] == act and not r["skipped"]}
            ref = rows[REFERENCE]["test_loss"]
            for r in rows.values():
                r["test_loss_ratio"] = r["test_loss"] / ref
            best = min(rows, key=lambda m: rows[m]["test_loss"])
            winners = [m for m in LIFTED if m in rows and TARGET * rows[m]["test_loss"] <= ref]
            cells.append(dict(depth=depth, activation=act, best=best, best_test_loss=rows[best]["test_loss"],
                              backprop_test_loss=ref, lifted_2x_lower=bool(winners), winners=winners))
    return dict(target=TARGET, cells=cells, found=any(c["lifted_2x_lower"] for c in cells))


# -- reporting -----------------------------------------------------------------------------------
def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3g}"


def write_markdown(path: Path, info: dict, args, records: list[dict], summary: dict) -> None:
    gpu = f" ({info['gpu']})" if info["gpu"] else ""
    dirty = " (liftinv modified)" if info["git_dirty"] else ""
    methods = args.methods
    lines = [
        "# Deep networks with saturating or non-smooth activations: lifted BCD vs backprop", "",
        f"Command: `{info['command']}`", "",
        f"torch {info['torch']}, {info['threads']} thread(s), {info['cpu']}, device `{info['device']}`{gpu}; "
        f"git {info['git_commit']}{dirty}; {info['date']}; {info['wall_seconds']:.0f} s in all.", "",
        f"Teacher-student regression (teacher `MLP([20,32,32,32,1])`, ReLU, weights x1.5), {args.n_train} train / "
        f"{args.n_test} test samples; students `MLP([20] + [{args.width}]*depth + [1])` with the activation of "
        f"the table, identity output. Budget {args.budget:g} s of training per depth, activation and method "
        f"(evaluation excluded), batch {args.batch}, Adam lr {args.lr:g}, lifted penalty weight lam {args.lam:g}, "
        f"soft-threshold threshold {args.soft_threshold:g}; initial weights "
        f"{'He-normal, zero biases' if args.init == 'he' else 'nn.Linear default'}, the same for every method "
        f"of a cell (seed {args.seed}); same data and data order within a cell.", "",
        "Loss: `1/2 (prediction - y)^2` per sample. The targets have unit variance, so a test loss of "
        f"**{NOTHING_LEARNED:.2f} means nothing learned** (the loss of a constant prediction at the mean).", "",
        "Methods: `lifted-bregman` = lifted Bregman BCD, one backward auxiliary sweep per step, Adam on the "
        "forward-anchored lifted weight gradient (`gradient=\"forward\"`); `lifted-bregman-matched` = the "
        "matched sweep (`gradient=\"matched\"`: displacements on back-propagation's scale); "
        "`lifted-bregman-mirror` = the matched sweep with mirror steps (`aux_step=\"mirror\"`: "
        "`x = sigma(v - (1-t) mu g)`, no prox solve); "
        "`lifted-bregman-geometric` = the "
        f"same with penalty weights `geometric_weights(L, top={args.lam:g}, ratio={args.ratio:g})` "
        "(lam_l = top * ratio^(L-1-l)) and auxiliary steps 1.9 / L_m; `lifted-bregman-aux` = the same with "
        "the classic lifted gradient at the auxiliaries (`gradient=\"aux\"`); `mac` = the MAC quadratic penalty "
        "(gradient at the auxiliaries); `lifted-fenchel-mirror` = the matched sweep with mirror steps on the "
        "Fenchel penalty (ReLU only, weight 1 as by its authors); `adam-backprop` = Adam on the "
        "back-propagated gradient.", "",
    ]
    for act in args.activations:
        lines += [f"## {act}: test loss", "", "| depth | " + " | ".join(methods) + " |",
                  "|" + "---|" * (len(methods) + 1)]
        for depth in args.depths:
            rows = {r["method"]: r for r in records if r["depth"] == depth and r["activation"] == act}
            cells = ["skipped" if rows[m]["skipped"] else f"{rows[m]['test_loss']:.4g}" for m in methods]
            lines.append(f"| {depth} | " + " | ".join(cells) + " |")
        lines.append("")
        for c in (c for c in summary["cells"] if c["activation"] == act):
            rows = {r["method"]: r for r in records if r["depth"] == c["depth"] and r["activation"] == act}
            steps = ", ".join(f"{m} {rows[m]['steps']}" for m in methods if not rows[m]["skipped"])
            verdict = (f"**yes** ({', '.join(c['winners'])})" if c["lifted_2x_lower"] else "no")
            lines.append(f"- depth {c['depth']}: best `{c['best']}` (test loss {c['best_test_loss']:.4g}; "
                         f"backprop {c['backprop_test_loss']:.4g}); a lifted method with >= {TARGET:g}x lower "
                         f"test loss than backprop: {verdict}. Steps: {steps}.")
        for r in (r for r in records if r["activation"] == act and r["skipped"]):
            lines.append(f"- depth {r['depth']}, `{r['method']}` skipped: {r['reason']}")
        lines.append("")
    found = [c for c in summary["cells"] if c["lifted_2x_lower"]]
    lines += ["## Target", ""]
    if found:
        lines.append(f"Issue 14's target (a lifted method at least {TARGET:g}x lower test loss than Adam backprop "
                     "at equal wall-clock) is **met** at: " + "; ".join(
                         f"depth {c['depth']} {c['activation']} ({', '.join(c['winners'])})" for c in found) + ".")
    else:
        lines.append(f"**None found**: at no depth and activation of this run did a lifted method reach "
                     f"{TARGET:g}x lower test loss than Adam backprop at equal wall-clock.")
    deepest = max(args.depths)
    lines += ["", f"## Signals at initialisation, depth {deepest}", "",
              f"On {DIAG_BATCH} fixed training samples: `backprop` = Frobenius norm of d loss / d W_l; "
              "`displacement` = norm of x_l - x_l^forward after one backward lifted Bregman sweep from the forward "
              "pass; `lifted` = norm of the forward-anchored lifted gradient of W_l (hidden layers carry the factor "
              "lam); `cos` = its cosine with the backprop gradient (`cos aux`: the gradient at the auxiliaries). "
              "Layer 1 is the first, the last is the output layer. `-`: undefined (a zero vector). See "
              "`deep_networks_signals.png` and the JSON (also after training).", ""]
    for act in args.activations:
        rec = next(r for r in records if r["depth"] == deepest and r["activation"] == act and not r["skipped"])
        d = rec["diagnostics"]["init"]
        n = len(d["backprop_grad_norm"])
        shown = sorted({1, 2, n // 2, n - 2, n - 1, n} & set(range(1, n + 1)))
        lines += [f"**{act}** (initial loss on the batch {d['loss']:.4g})", "",
                  "| layer | backprop | displacement | lifted | cos | cos aux |", "|---|---|---|---|---|---|"]
        for l in shown:
            disp = d["lifted_signal_norm"][l - 1] if l < n else None
            lines.append(f"| {l} | {_fmt(d['backprop_grad_norm'][l - 1])} | {_fmt(disp)} | "
                         f"{_fmt(d['lifted_grad_norm'][l - 1])} | {_fmt(d['cosine'][l - 1])} | "
                         f"{_fmt(d['aux_cosine'][l - 1])} |")
        lines.append("")
    path.write_text("\n".join(lines))


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _positive(values) -> list[float]:
    return [v if v is not None and v > 0 else float("nan") for v in values]  # log axes: zeros not drawn


def plot_losses(path: Path, args, records: list[dict]) -> None:
    plt = _plt()
    acts = args.activations
    fig, axes = plt.subplots(1, len(acts), figsize=(4.2 * len(acts), 3.6), squeeze=False)
    for ax, act in zip(axes[0], acts):
        for method in args.methods:
            pts = [(r["depth"], r["test_loss"]) for r in records
                   if r["activation"] == act and r["method"] == method and not r["skipped"]]
            if pts:
                lw = 2.2 if method in ("lifted-bregman", REFERENCE) else 1.2
                ax.plot(*zip(*pts), marker="o", label=method, lw=lw)
        ax.axhline(NOTHING_LEARNED, color="gray", ls=":", lw=1, label="nothing learned")
        ax.set(title=act, xlabel="hidden layers", ylabel="test loss", yscale="log", xticks=args.depths)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_signals(path: Path, args, records: list[dict]) -> None:
    plt = _plt()
    acts, deepest = args.activations, max(args.depths)
    fig, axes = plt.subplots(1, len(acts), figsize=(4.2 * len(acts), 3.6), squeeze=False)
    for ax, act in zip(axes[0], acts):
        rows = {r["method"]: r for r in records if r["depth"] == deepest and r["activation"] == act}
        d = rows[REFERENCE]["diagnostics"]["init"]
        layers = list(range(1, len(d["backprop_grad_norm"]) + 1))
        ax.plot(layers, _positive(d["backprop_grad_norm"]), "C0-", lw=2, label="backprop grad, init")
        ax.plot(layers, _positive(d["lifted_grad_norm"]), "C1-", lw=2, label="lifted grad (forward), init")
        ax.plot(layers[:-1], _positive(d["lifted_signal_norm"]), "C2:", lw=2, label="lifted displacement, init")
        ax.plot(layers, _positive(rows[REFERENCE]["diagnostics"]["final"]["backprop_grad_norm"]), "C0--", lw=1,
                label="backprop grad, after adam-backprop")
        lifted = rows.get("lifted-bregman")  # the forward-anchored row, when run (--methods)
        if lifted is not None and not lifted["skipped"]:
            ax.plot(layers, _positive(lifted["diagnostics"]["final"]["lifted_grad_norm"]), "C1--",
                    lw=1, label="lifted grad, after lifted-bregman")
        ax.set(title=f"{act}, depth {deepest}", xlabel="layer (output last)", ylabel="norm", yscale="log")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    out, info = LVB.start_run(args, argv, args.out, "deep_networks.py")
    data = LVB.regression_task(args)["data"]  # the teacher-student set (student net unused)
    records = []
    t0 = time.perf_counter()
    for depth in args.depths:
        for act in args.activations:
            if depth == args.depths[0]:  # the one-off costs are per activation (the widths are fixed)
                warm_up(depth, act, data, args)
            records += run_cell(depth, act, data, args)
    summary = summarise(records, args)
    info["wall_seconds"] = time.perf_counter() - t0
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "no_progress", "batch_size")}
    result = dict(machine=info, settings=settings, summary=summary, records=records)
    (out / "deep_networks.json").write_text(json.dumps(result, indent=1))
    write_markdown(out / "deep_networks.md", info, args, records, summary)
    plot_losses(out / "deep_networks.png", args, records)
    plot_signals(out / "deep_networks_signals.png", args, records)
    print(f"wrote {out}/deep_networks.{{json,md,png}} and deep_networks_signals.png in "
          f"{info['wall_seconds']:.0f} s; 2x target found: {summary['found']}")
    return result


if __name__ == "__main__":
    main()
