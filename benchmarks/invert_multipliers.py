r"""Multipliers for lifted inversion against penalty continuation and nested L-BFGS (issue 13).

Issue 13 asks for multiplier (augmented Lagrangian / Bregman iteration) updates that drive the
constraint violation of lifted inversion to zero without the stalling of :math:`\lambda\to\infty`.
This study adds them to the default solver (``apg``) in the Powell-Hestenes form of a shifted
penalty: the hidden penalties are taken at shifted pre-activations,
:math:`\lambda_lB_l(x_l, v_l + u_l)` (so :math:`v_l + u_l` replaces :math:`v_l` in the smooth
part and its gradient), and every :math:`K` iterations

.. math::
    u_l \leftarrow u_l + \rho\,(\sigma_l(v_l) - x_l).

At a fixed point :math:`x_l = \sigma_l(v_l)` exactly, at a fixed :math:`\lambda`, and the force on
the layers below is :math:`\lambda_lM^\top(\sigma_l(v_l + u_l) - \sigma_l(v_l))`, a secant form of
back-propagation's chain rule.  The network is the plain-torch conv encoder of
``liftinv bench invert --cases torch`` (same steps and seed), inverted from the codes of 8 crops
of the *training* images, TV regularised, by

* ``fixed``: the default solver, ``lam = 1``;
* ``continuation``: ``lam_growth = 1.02`` up to ``lam_max = 1e3``;
* ``multipliers K``: ``lam = 1`` and the update above every ``K`` iterations (:math:`\rho = 1`);
* ``L-BFGS``: nested L-BFGS (``invert_gradient``),

each with its best TV weight of a grid, at 0, 1, 5 and 10% code noise (part 1).  Part 2 asks
why the lifted estimates stay behind: at 5% noise it compares the *nested* objective
:math:`\tfrac12\|N(x) - y\|^2 + \alpha\,\mathrm{TV}(x)` at every method's estimate, and starts the
lifted solver from L-BFGS's estimate (with its forward pass as the hidden states) to see whether
that point is a fixed point of the lifted iteration.  Usage::

    OMP_NUM_THREADS=1 python3 benchmarks/invert_multipliers.py --out benchmarks/results/invert_multipliers
"""

from __future__ import annotations

import functools
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from liftinv.activations import ReLU
from liftinv.bench.tuning import search_grid
from liftinv.inversion import LiftedInversion, invert_gradient
from liftinv.inversion.accelerated import JointStep
from liftinv.inversion.noise import noisy_code
from liftinv.inversion.regularisers import get_regulariser

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:  # run as a script it is there already; loaded from a file (the tests) it is not
    sys.path.insert(0, _HERE)
import invert_solver_study as study  # noqa: E402  (encoder_study: the encoder and the training crops)

MARKS = (20, 50, 100, 200, 400)
GRID = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3)
LEVELS = (0.0, 0.01, 0.05, 0.1)


class MultiplierStep(JointStep):
    """:class:`JointStep` at pre-activations shifted by multipliers, updated every ``every``
    iterations (module docstring; ``every = 0``: never, the plain step)."""

    def __init__(self, *args, every: int = 0, rho: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.every, self.rho, self.calls = every, rho, 0
        self.shift: list[torch.Tensor] | None = None

    def preactivations(self, states):
        vs = super().preactivations(states)
        for v, u in zip(vs, self.shift or []):
            v.add_(u)
        return vs

    @torch.no_grad()
    def update_multipliers(self, x) -> None:
        r""":math:`u_l \leftarrow u_l + \rho(\sigma_l(v_l) - x_l)`, the cached (shifted)
        pre-activations of the iterate and the extrapolated point moved along."""
        if self.shift is None:
            self.shift = [torch.zeros_like(v) for v in self._v_x[:-1]]
        for li in range(1, self.net.depth):
            u, vx, vz = self.shift[li - 1], self._v_x[li - 1], self._v_z[li - 1]
            r = self.net.activation(li).sigma(vx - u).sub_(x[li]).mul_(self.rho)
            u.add_(r)
            vx.add_(r)
            if vz is not vx:
                vz.add_(r)

    def __call__(self, z, x, y):
        new, z_next, change = super().__call__(z, x, y)
        self.calls += 1
        if self.every and self.calls % self.every == 0:
            self.update_multipliers(new)
        return new, z_next, change


class MultiplierInversion(LiftedInversion):
    """``apg`` whose steps are :class:`MultiplierStep` (``every``, ``rho``)."""

    def __init__(self, *args, every: int = 0, rho: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.step_class = functools.partial(MultiplierStep, every=every, rho=rho)


def nested_objective(net, x, y, alpha: float) -> float:
    r""":math:`\tfrac12\|N(x) - y\|^2 + \alpha\,\mathrm{TV}(x)`, mean over the samples."""
    with torch.no_grad():
        misfit = 0.5 * (net(x) - y).pow(2).flatten(1).sum(1)
        return float((misfit + alpha * get_regulariser("tv").value(x)).mean())


def solve(net, y, x_true, method: dict, alpha: float, iters: int, x_init="half", inversion=None):
    """``(estimate, [(iteration, psnr, violation)], seconds)`` of one method at TV weight ``alpha``:
    nested L-BFGS, or the lifted solver ``inversion`` (default :class:`MultiplierInversion`) with
    the method's other entries as keywords."""
    t0 = time.perf_counter()
    if method["kind"] == "lbfgs":
        res = invert_gradient(net, y, method="lbfgs", regulariser="tv", alpha=alpha, iters=iters, x_true=x_true,
                              monitor_every=10, x_init=x_init)
    else:
        opts = {k: v for k, v in method.items() if k not in ("kind", "label")}
        res = (inversion or MultiplierInversion)(net, "tv", alpha, tol=0.0, plateau=0.0, **opts).run(
            y, iters, x_true=x_true, monitor_every=10, x_init=x_init)
    curve = [(h["iteration"], h["psnr"], h.get("violation")) for h in res.history]
    return res.x.detach(), curve, time.perf_counter() - t0


def best_per_level(net, ys: dict, x_true, methods, iters: int, solve=solve) -> list[dict]:
    """Every method at every code noise level of ``ys`` at its best TV weight of :data:`GRID`,
    extended past an end while the best is there (:func:`liftinv.bench.tuning.search_grid`; the
    final PSNR decides): one record per pair with the PSNR curve, seconds and nested objective."""
    best = []
    for level, y in ys.items():
        for meth in methods:
            runs = {}

            def final_psnr(a, y=y, meth=meth, runs=runs):
                runs[a] = solve(net, y, x_true, meth, a, iters)
                return runs[a][1][-1][1]

            alpha, _ = search_grid(final_psnr, GRID)
            x, curve, secs = runs[alpha]
            best.append({"level": level, "method": meth["label"], "lam": meth.get("lam"), "alpha": alpha,
                         "curve": curve, "seconds": secs, "nested": nested_objective(net, x, y, alpha)})
            print(level, meth["label"], alpha, [(i, round(q, 2)) for i, q, _ in curve if i in MARKS],
                  f"{secs:.1f} s", flush=True)
    return best


def best_table(best: list[dict], before=(), after=()) -> list[str]:
    """The markdown table of :func:`best_per_level`'s records: noise, method, the ``before``
    columns, TV weight, PSNR at :data:`MARKS`, seconds, nested objective, the ``after`` columns
    (each column a ``(header, record -> text)`` pair)."""
    heads = ["code noise", "method", *(h for h, _ in before), "alpha", *(f"@{m}" for m in MARKS), "seconds",
             "nested objective", *(h for h, _ in after)]
    lines = ["| " + " | ".join(heads) + " |", "|---" * len(heads) + "|"]
    for r in best:
        at = {i: q for i, q, _ in r["curve"]}
        cells = [f"{r['level']:g}", r["method"], *(f(r) for _, f in before), f"{r['alpha']:g}",
                 *(f"{at[m]:.2f}" if m in at else "-" for m in MARKS), f"{r['seconds']:.1f}", f"{r['nested']:.4f}",
                 *(f(r) for _, f in after)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def noisy_codes(code: torch.Tensor) -> dict:
    """The codes at every level of :data:`LEVELS` (relative noise, fixed draws, clamped to the
    ReLU's range), the same in every inversion study."""
    return {lv: noisy_code(code, lv, 11 + i, ReLU()) if lv else code for i, lv in enumerate(LEVELS)}


def write_study(name: str, args, info: dict, x_true, best: list[dict], title: str, note: str,
                table: list[str]) -> None:
    """``benchmarks/results/.../NAME.json`` (command, encoder, arguments, records) and ``NAME.md``
    (title, command, the encoder and ``note``, then ``table``) of a study of :func:`best_per_level`."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "OMP_NUM_THREADS=1 python3 " + shlex.join([f"benchmarks/{name}.py", *sys.argv[1:]])
    (out / f"{name}.json").write_text(json.dumps({"command": command, "train": info, "args": vars(args),
                                                  "best": best}))
    lines = [f"# {title}", "", f"Command: `{command}`", "",
             f"Encoder: {info['steps']} Adam steps, final MSE {info['final_mse']:.2e}; {x_true.shape[0]} crops; "
             f"{args.iters} iterations; {note}", "", *table]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


METHODS = ({"label": "fixed lam = 1", "kind": "lifted", "every": 0},
           {"label": "continuation 1.02", "kind": "lifted", "every": 0, "lam_growth": 1.02},
           {"label": "multipliers K = 20", "kind": "lifted", "every": 20},
           {"label": "multipliers K = 50", "kind": "lifted", "every": 50},
           {"label": "L-BFGS", "kind": "lbfgs"})


def main(argv=None) -> int:
    args, net, x_true, code, info = study.encoder_study(argv, __doc__.split("\n")[0],
                                                        "benchmarks/results/invert_multipliers")
    torch.set_num_threads(1)
    ys = noisy_codes(code)
    best = best_per_level(net, ys, x_true, METHODS, args.iters)  # part 1
    part2 = []
    level, alpha = 0.05, 0.1  # part 2: the nested objective, and L-BFGS's estimate as a start
    y = ys[level]
    x_lbfgs, _, _ = solve(net, y, x_true, METHODS[-1], alpha, args.iters)
    for meth in (*METHODS[:3], {"label": "fixed lam = 1000", "kind": "lifted", "every": 0, "lam": 1000.0}):
        for start in ("half", "L-BFGS"):
            x, curve, _ = solve(net, y, x_true, meth, alpha, args.iters, x_init="half" if start == "half" else x_lbfgs)
            part2.append({"method": meth["label"], "start": start, "curve": curve,
                          "nested": nested_objective(net, x, y, alpha)})
            print("part 2", meth["label"], start, [(i, round(q, 2), f"{v:.1e}") for i, q, v in curve
                                                   if i in (0, 10, 50, 100, 400)], part2[-1]["nested"], flush=True)
    part2.append({"method": "L-BFGS", "start": "half", "nested": nested_objective(net, x_lbfgs, y, alpha)})
    part2.append({"method": "truth", "start": "-", "nested": nested_objective(net, x_true, y, alpha)})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "OMP_NUM_THREADS=1 python3 " + shlex.join(["benchmarks/invert_multipliers.py", *sys.argv[1:]])
    (out / "invert_multipliers.json").write_text(json.dumps({"command": command, "train": info, "args": vars(args),
                                                             "best": best, "part2": part2}))
    lines = ["# Multipliers for lifted inversion (the torch encoder, training crops)", "", f"Command: `{command}`", "",
             f"Encoder: {info['steps']} Adam steps, final MSE {info['final_mse']:.2e}; {x_true.shape[0]} crops; "
             f"{args.iters} iterations; TV weight per method and level, the best of {list(GRID)}; 1 torch thread.",
             "", "## 1. PSNR (dB) at the best TV weight", "",
             *best_table(best)]
    lines += ["", f"## 2. Code noise {level:g}, alpha {alpha:g}: the nested objective, and L-BFGS's estimate as a "
              "start", "", "| method | start | PSNR @0 / 10 / 50 / 400 | violation @10 / 400 | nested objective |",
              "|---|---|---|---|---|"]
    for r in part2:
        if "curve" not in r:
            lines.append(f"| {r['method']} | {r['start']} | - | - | {r['nested']:.4f} |")
            continue
        at = {i: (q, v) for i, q, v in r["curve"]}
        psnrs = " / ".join(f"{at[i][0]:.2f}" for i in (0, 10, 50, args.iters) if i in at)
        viol = " / ".join(f"{at[i][1]:.1e}" for i in (10, args.iters) if i in at)
        lines.append(f"| {r['method']} | {r['start']} | {psnrs} | {viol} | {r['nested']:.4f} |")
    (out / "invert_multipliers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
