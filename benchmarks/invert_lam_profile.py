r"""Per-layer penalty weights for lifted inversion (issue 13): does the profile of :math:`\lambda_l` decide the basin?

The multipliers study (``invert_multipliers.py``) found that on the torch encoder the lifted
solver ends at worse stationary points of the nested objective than L-BFGS, and that the path
decides it: started at L-BFGS's estimate, :math:`\lambda = 1000` keeps it, but from mid-grey a
large :math:`\lambda` is stuck, while :math:`\lambda = 1` lets the data reach the input early and
ends in the worse basin.  This study asks whether a *profile* over the layers does better than one
weight for all, with the same solver (``apg``) and the objective

.. math::
    \sum_{l=1}^{L-1}\lambda_lB_l(x_l, v_l) + B_{\sigma_L}(y, v_L) + \alpha\,\mathrm{TV}(x_0),

at profiles geometric in :math:`l` with the same geometric mean 1:

* ``uniform``: :math:`\lambda_l = 1` (the default);
* ``input-heavy``: :math:`\lambda_l` from 10 at the first hidden layer down to 0.1 at the last
  (the layers near the input held to the forward pass, those near the data free to absorb it);
* ``data-heavy``: the reverse, 0.1 up to 10;
* ``input-heavy + continuation``: the input-heavy profile grown by 1.02 per iteration up to 1e3;
* ``L-BFGS``: nested L-BFGS (``invert_gradient``), the baseline,

each at its best TV weight of the grid of ``invert_multipliers.py``, at 0, 1, 5 and 10% code noise,
on the 8 *training* crops of that study (same encoder, same noise draws).  Usage::

    OMP_NUM_THREADS=1 python3 benchmarks/invert_lam_profile.py --out benchmarks/results/invert_lam_profile
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:  # run as a script it is there already; loaded from a file (the tests) it is not
    sys.path.insert(0, _HERE)
import invert_multipliers as mult  # noqa: E402  (solve, nested_objective, the grid and noise levels)
import invert_solver_study as study  # noqa: E402  (encoder_study: the encoder and the training crops)


def geometric(first: float, last: float, n: int) -> list[float]:
    """``n`` weights from ``first`` to ``last``, evenly spaced in the logarithm."""
    if n == 1:
        return [(first * last) ** 0.5]
    return [first * (last / first) ** (i / (n - 1)) for i in range(n)]


def methods(hidden: int) -> list[dict]:
    """The profiles of the module docstring for a network with ``hidden`` hidden layers."""
    heavy = geometric(10.0, 0.1, hidden)
    return [{"label": "uniform", "kind": "lifted", "lam": [1.0] * hidden},
            {"label": "input-heavy", "kind": "lifted", "lam": heavy},
            {"label": "data-heavy", "kind": "lifted", "lam": heavy[::-1]},
            {"label": "input-heavy + continuation", "kind": "lifted", "lam": heavy, "lam_growth": 1.02},
            {"label": "L-BFGS", "kind": "lbfgs"}]


def lam_text(record: dict) -> str:
    return "-" if record["lam"] is None else "/".join(f"{v:.2g}" for v in record["lam"])


def violation_text(record: dict) -> str:
    """The final constraint violation; nested L-BFGS has no constraint."""
    return "-" if record["lam"] is None else f"{record['curve'][-1][2]:.1e}"


def main(argv=None) -> int:
    args, net, x_true, code, info = study.encoder_study(argv, __doc__.split("\n")[0],
                                                        "benchmarks/results/invert_lam_profile")
    torch.set_num_threads(1)
    ys = mult.noisy_codes(code)
    best = mult.best_per_level(net, ys, x_true, methods(net.depth - 1), args.iters)
    mult.write_study("invert_lam_profile", args, info, x_true, best,
                     "Per-layer penalty weights for lifted inversion (the torch encoder, training crops)",
                     f"TV weight per method and level, the best of {list(mult.GRID)}; 1 torch thread. "
                     "lam: the hidden layers' weights from the input side.",
                     mult.best_table(best, before=[("lam", lam_text)], after=[("violation", violation_text)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
