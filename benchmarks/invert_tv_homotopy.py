r"""Homotopy on the TV weight for lifted inversion (issue 13): a strong prior first, then the target one.

The multipliers and per-layer-weight studies (``invert_multipliers.py``, ``invert_lam_profile.py``)
found that the lifted solver's path from mid-grey decides which stationary point of the nested
objective it reaches.  This study changes the path through the prior instead: the default solver
(``apg``) runs with the TV weight

.. math::
    \alpha_k = \max(\alpha,\ c\,\alpha\,d^{\,k}),

which starts at :math:`c` times the target weight :math:`\alpha` and decays by :math:`d` per
iteration until it reaches it (:math:`c = 10` or :math:`100`, :math:`d = 0.98`: the target is
reached after 114 or 228 of the 400 iterations), so the first iterations fit a smooth image and
the details come in later.  It is compared with the same solver at the target weight throughout
(``fixed``), with and without penalty continuation (``lam_growth = 1.02``), and with nested
L-BFGS, each at its best TV weight of the grid of ``invert_multipliers.py``, at 0, 1, 5 and 10%
code noise on the 8 *training* crops of those studies (same encoder, same noise draws).  Usage::

    OMP_NUM_THREADS=1 python3 benchmarks/invert_tv_homotopy.py --out benchmarks/results/invert_tv_homotopy
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import torch

from liftinv.inversion import LiftedInversion
from liftinv.inversion.accelerated import JointStep

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:  # run as a script it is there already; loaded from a file (the tests) it is not
    sys.path.insert(0, _HERE)
import invert_multipliers as mult  # noqa: E402  (solve, best_per_level, the grid and noise levels)
import invert_solver_study as study  # noqa: E402  (encoder_study: the encoder and the training crops)


class HomotopyStep(JointStep):
    r""":class:`JointStep` whose TV weight starts at ``start`` times the target and is multiplied
    by ``decay`` after every iteration until it reaches the target (module docstring)."""

    def __init__(self, *args, start: float = 1.0, decay: float = 0.98, **kwargs):
        super().__init__(*args, **kwargs)
        self.target, self.decay = self.alpha, decay
        self.alpha = self.target * start

    def __call__(self, z, x, y):
        out = super().__call__(z, x, y)
        self.alpha = max(self.target, self.alpha * self.decay)
        return out


class HomotopyInversion(LiftedInversion):
    """``apg`` whose steps are :class:`HomotopyStep` (``start``, ``decay``)."""

    def __init__(self, *args, start: float = 1.0, decay: float = 0.98, **kwargs):
        super().__init__(*args, **kwargs)
        self.step_class = functools.partial(HomotopyStep, start=start, decay=decay)


METHODS = ({"label": "fixed", "kind": "lifted", "start": 1.0},
           {"label": "homotopy x10", "kind": "lifted", "start": 10.0},
           {"label": "homotopy x100", "kind": "lifted", "start": 100.0},
           {"label": "continuation", "kind": "lifted", "start": 1.0, "lam_growth": 1.02},
           {"label": "continuation + homotopy x10", "kind": "lifted", "start": 10.0, "lam_growth": 1.02},
           {"label": "L-BFGS", "kind": "lbfgs"})


def main(argv=None) -> int:
    args, net, x_true, code, info = study.encoder_study(argv, __doc__.split("\n")[0],
                                                        "benchmarks/results/invert_tv_homotopy")
    torch.set_num_threads(1)
    ys = mult.noisy_codes(code)
    best = mult.best_per_level(net, ys, x_true, METHODS, args.iters,
                               solve=functools.partial(mult.solve, inversion=HomotopyInversion))
    mult.write_study("invert_tv_homotopy", args, info, x_true, best,
                     "Homotopy on the TV weight for lifted inversion (the torch encoder, training crops)",
                     f"target TV weight per method and level, the best of {list(mult.GRID)}; "
                     "homotopy: the weight starts at x10 or x100 and decays by 0.98 per iteration; 1 torch thread.",
                     mult.best_table(best))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
