r"""Two more lifted inversion solvers against the default one and nested L-BFGS (issue 13).

The network is the one of ``liftinv bench invert --cases torch`` (the plain conv encoder trained
by torch's Adam, same steps and seed); it is inverted from the codes of 32x32 crops of the
*training* images (a seed the benchmark's tuning does not use), TV regularised, at two code noise
levels and two TV weights, by

* ``apg``: the default lifted solver (joint accelerated proximal gradient, one scalar step
  :math:`s/L_m` per block, :math:`L_m` from operator norms), fixed ``lam``;
* ``apg-diag``: the same with a **diagonal metric** on the hidden blocks: per element
  :math:`L_m = \lambda_m + \sum_r\lambda_r(|M_{r,m}|^\top|M_{r,m}|\mathbf 1)`, a majoriser of
  :math:`\lambda_m + \sum_r\lambda_rM_{r,m}^\top M_{r,m}` (Schur's test) that is far below the
  operator norm on the channels with small weights (Jacobi-type preconditioning);
* ``lbfgsb``: scipy's L-BFGS-B over **all lifted variables at once** (input and hidden states,
  float64), the smooth part :math:`S` of the lifted Bregman objective plus :math:`\alpha` times
  the smoothed TV of the gradient baseline, the hidden ReLU states bounded below by 0
  (:math:`\mathrm{dom}\,\Psi`), ``lam`` 1 and 10;
* ``lbfgs``: nested L-BFGS (``invert_gradient``), the baseline.

Each run records the PSNR every 10 iterations (function evaluations for the L-BFGS methods) and
its seconds.  Usage::

    OMP_NUM_THREADS=1 python3 benchmarks/invert_solver_study.py --out benchmarks/results/invert_solver_study
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from liftinv.bench.invert_torch import PATCH, random_crops, train_torch_autoencoder
from liftinv.data import load_embedded
from liftinv.inversion import LiftedInversion, from_module, invert_gradient
from liftinv.inversion.accelerated import JointStep
from liftinv.inversion.noise import noisy_code
from liftinv.inversion.regularisers import get_regulariser
from liftinv.inversion.result import psnr_values
from liftinv.lifting import LiftedProblem

MARKS = (20, 50, 100, 200, 300, 400)


@torch.no_grad()
def abs_majoriser(amap, shape) -> torch.Tensor:
    r""":math:`|A|^\top|A|\mathbf 1` of a map, per element of its input (``(1,) + shape``)."""
    absolute = copy.deepcopy(amap)
    for q in absolute.parameters():
        q.abs_()
    ones = torch.ones((1,) + tuple(shape), dtype=next(amap.parameters()).dtype)
    return absolute.A_adjoint(absolute.A(ones), shape)


class DiagonalStep(JointStep):
    """:class:`JointStep` with the diagonal metric of the module docstring on the hidden blocks."""

    def lipschitz(self):
        if not hasattr(self, "_diag"):
            net = self.net
            self._diag = {(r, m): abs_majoriser(a, net.state_shapes[m])
                          for r in range(1, net.depth + 1) for m, a in net.sources(r) if m >= 1}
        lips = super().lipschitz()
        for m in range(1, self.net.depth):
            own = self.problem.lam_of(m)
            lips[m] = own + sum(self.problem.lam_of(r) * d for (r, k), d in self._diag.items() if k == m)
        return lips


class DiagonalInversion(LiftedInversion):
    step_class = DiagonalStep


def lifted_lbfgsb(net, y, x_true, *, alpha: float, lam: float, iters: int, eps: float = 1e-3) -> list:
    """L-BFGS-B over all lifted variables (module docstring); ``[(evaluations, seconds, psnr)]``."""
    from scipy.optimize import minimize

    net = copy.deepcopy(net).double()
    prob = LiftedProblem(net, penalty="bregman", lam=lam)
    tv = get_regulariser("tv")
    step = JointStep(prob, {}, tv, alpha)  # its smooth part and gradient, nothing else
    y = y.double()
    states, _ = prob.init_aux(torch.full((y.shape[0],) + tuple(net.in_shape), 0.5, dtype=torch.float64))
    shapes, sizes = [s.shape for s in states], [s.numel() for s in states]
    lower = np.concatenate([np.full(sizes[0], -np.inf)] + [np.zeros(n) for n in sizes[1:]])
    bounds = list(zip(lower, np.full(lower.size, np.inf)))
    history, clock = [], {"seconds": 0.0, "start": time.perf_counter(), "count": 0}

    def split(z):
        return [t.view(sh) for t, sh in zip(torch.from_numpy(z).split(sizes), shapes)]

    def objective(z):
        st = split(z)
        with torch.no_grad():
            vs = step.preactivations(st)
            value, grads = step.smooth(st, y, vs), step.gradient(st, y, vs)
        x0 = st[0].clone().requires_grad_(True)
        reg = alpha * tv.smooth_value(x0, eps).sum()
        reg.backward()
        grads[0] += x0.grad
        clock["count"] += 1
        if clock["count"] % 10 == 0:  # the record is not timed
            clock["seconds"] += time.perf_counter() - clock["start"]
            history.append((clock["count"], clock["seconds"], float(psnr_values(st[0].float(), x_true).mean())))
            clock["start"] = time.perf_counter()
        return float(value + reg.detach()), torch.cat([g.reshape(-1) for g in grads]).numpy()

    z0 = torch.cat([s.reshape(-1) for s in states]).numpy().copy()
    minimize(objective, z0, jac=True, method="L-BFGS-B", bounds=bounds,
             options={"maxiter": iters, "maxfun": iters, "maxcor": 20, "ftol": 0.0, "gtol": 0.0})
    return history


def curve(result) -> list:
    return [(h["iteration"], h["seconds"], h["psnr"]) for h in result.history]


def encoder_study(argv, description: str, out: str):
    """The command line shared by the inversion studies (``--out``, ``--iters``, ``--crops``,
    ``--torch-steps``), then bench case 5's encoder trained by torch (seed 0), converted, and the
    training crops with their codes: ``(args, net, x_true, code, info)``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("-o", "--out", "--output", default=out)
    p.add_argument("--iters", type=int, default=400)
    p.add_argument("--crops", type=int, default=8, help="32x32 crops of the training images (2 per image)")
    p.add_argument("--torch-steps", type=int, default=1500)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    train = load_embedded("train")
    enc, info = train_torch_autoencoder(train, steps=args.torch_steps, seed=0)
    net = from_module(enc, (1, PATCH, PATCH))
    x_true = random_crops(train, 2, 7)[:args.crops]
    with torch.no_grad():
        code = net(x_true)
    return args, net, x_true, code, info


def main(argv=None) -> int:
    args, net, x_true, code, info = encoder_study(argv, __doc__.split("\n")[0],
                                                  "benchmarks/results/invert_solver_study")
    runs = []
    for level, alphas in ((0.0, (1e-3, 1e-2)), (0.05, (1e-2, 1e-1))):
        y = noisy_code(code, level, 11, net.activation(net.depth)) if level else code
        for alpha in alphas:
            common = dict(iters=args.iters, x_true=x_true, monitor_every=10)
            for label, cls in (("apg", LiftedInversion), ("apg-diag", DiagonalInversion)):
                res = cls(net, "tv", alpha, lam=1.0, tol=0.0, plateau=0.0).run(y, **common)
                runs.append({"level": level, "alpha": alpha, "method": label, "lam": 1.0, "curve": curve(res)})
            for lam in (1.0, 10.0):
                hist = lifted_lbfgsb(net, y, x_true, alpha=alpha, lam=lam, iters=args.iters)
                runs.append({"level": level, "alpha": alpha, "method": "lbfgsb", "lam": lam, "curve": hist})
            res = invert_gradient(net, y, method="lbfgs", alpha=alpha, **common)
            runs.append({"level": level, "alpha": alpha, "method": "lbfgs", "lam": None, "curve": curve(res)})
            for r in runs[-4:]:
                print(level, alpha, r["method"], r["lam"], [(i, round(q, 2)) for i, _, q in r["curve"] if i in MARKS],
                      f"{r['curve'][-1][1]:.1f} s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "invert_solver_study.json").write_text(json.dumps({"train": info, "args": vars(args), "runs": runs}))
    lines = ["# Lifted inversion solvers on the torch encoder (training crops)", "",
             f"`OMP_NUM_THREADS=1 python3 benchmarks/invert_solver_study.py --out {args.out}`; encoder: "
             f"{info['steps']} Adam steps, final MSE {info['final_mse']:.2e}; {x_true.shape[0]} crops.", "",
             "| code noise | alpha | method | lam | " + " | ".join(f"PSNR @{m}" for m in MARKS) + " | seconds |",
             "|---" * (5 + len(MARKS)) + "|"]
    for r in runs:
        at = {i: q for i, _, q in r["curve"]}
        cells = " | ".join(f"{at[m]:.2f}" if m in at else "-" for m in MARKS)
        lam = "-" if r["lam"] is None else f"{r['lam']:g}"
        lines.append(f"| {r['level']:g} | {r['alpha']:g} | {r['method']} | {lam} | {cells} | {r['curve'][-1][1]:.1f} |")
    (out / "invert_solver_study.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
