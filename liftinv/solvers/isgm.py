"""The implicit stochastic gradient method for lifted training (:class:`ISGM`): :class:`BCD` with a
proximal term on the weights."""

from __future__ import annotations

import math

from ..lifting.problem import LiftedProblem
from .bcd import BCD
from .strategies import check_numbers


class ISGM(BCD):
    r"""Implicit stochastic gradient method (Toulis–Airoldi) for lifted training.

    Per mini-batch :math:`S_p` and outer step :math:`k`, approximately solve

    .. math::
        \min_{\Theta, X_{S_p}} \frac1{|S_p|}\sum_{i\in S_p}\sum_l B_l(x_l^i, v_l^i)
        + \frac{1}{2\tau}\|\Theta - \Theta^k\|^2

    by ``inner_iters`` proximal-gradient alternations (auxiliaries initialised by a
    forward pass with :math:`\Theta^k`); the proximal term adds :math:`1/\tau` to each
    weight block's Lipschitz constant (``prox_weight = 1/tau``).  The papers leave
    :math:`\tau`, the number of inner iterations and the batch size open; the defaults
    here (``tau=1``, ``inner_iters=5``) are ours.  Other keywords: as :class:`BCD`.
    """

    def __init__(self, problem: LiftedProblem, *, tau: float = 1.0, inner_iters: int = 5, **kwargs) -> None:
        check_numbers("ISGM", tau=tau)
        if not 0 < tau < math.inf:
            raise ValueError(f"tau must be positive and finite, got {tau}")
        if "prox_weight" in kwargs:
            raise ValueError("ISGM sets prox_weight = 1/tau; give tau instead")
        super().__init__(problem, inner_iters=inner_iters, prox_weight=1.0 / tau, **kwargs)

    @property
    def tau(self) -> float:
        """:math:`\\tau = 1/\\text{prox\\_weight}` (of the first layer)."""
        return 1.0 / self.param_groups[0]["prox_weight"]

    @property
    def config(self) -> dict:
        out = super().config
        out["tau"] = self.tau
        out.pop("prox_weight")
        return out
