r"""Piecewise-linear proximal activations on the whole line: identity, ReLU, leaky ReLU.

Each penalty is written as :math:`B = \tfrac12(y-\sigma(v))^2 + D_\Psi(y, \sigma(v))` with the
Bregman distance :math:`D_\Psi(y, s) = \Psi(y) - \Psi(s) - (v - s)(y - s) \ge 0`, never as the
cancelling difference :math:`\phi(y) + \phi^*(v) - yv`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..utils.checks import check_nonneg
from .base import DOMAIN_RTOL, ProxActivation, as_like, describe
from .errors import PROXIMAL_RULE, NotProximalError

__all__ = ["Identity", "ReLU", "LeakyReLU"]


class Identity(ProxActivation):
    r"""Identity :math:`\sigma(v) = v` (a linear layer).

    * :math:`\Psi = 0`, :math:`\phi(y) = \tfrac12 y^2`, :math:`\phi^*(v) = \tfrac12 v^2`.
    * :math:`B(y, v) = \tfrac12 (y - v)^2` (the squared error).
    * :math:`\mathrm{prox}_{t\Psi}(w) = w`, :math:`\mathrm{prox}_{c\phi}(w) = w/(1+c)`.
    """

    psi_is_indicator = True

    def sigma(self, v):
        return v

    def derivative(self, v):
        return torch.ones_like(v)

    def psi(self, y):
        return torch.zeros_like(y)

    def phi_conj(self, v):
        return 0.5 * v * v

    def project(self, y):
        return y

    def _penalty_terms(self, y, v):
        return 0.5 * (y - v) ** 2

    def prox_psi(self, w, t=1.0):
        check_nonneg("t", t)
        return w.clone()

    def prox_psi_(self, w, t=1.0):
        check_nonneg("t", t)
        return w

    def increment(self, v, d, sigma_v=None):
        return d.clone()

    def secant_(self, v, g, h, sigma_v=None):
        """The secant of the identity is ``g`` itself, exactly (no pass)."""
        return g

    def prox_phi(self, w, c=1.0):
        check_nonneg("c", c)
        return w / (1.0 + as_like(c, w))


class ReLU(ProxActivation):
    r"""ReLU :math:`\sigma(v) = \max(v, 0)`, the projection onto :math:`[0, \infty)`.

    * :math:`\Psi = \iota_{y \ge 0}`, :math:`\phi(y) = \tfrac12 y^2` on :math:`y \ge 0`,
      :math:`\phi^*(v) = \tfrac12 v_+^2`.
    * :math:`B(y, v) = \tfrac12 (y - v_+)^2 + y\,v_-` for :math:`y \ge 0` (:math:`v_- =
      \max(-v, 0)`), :math:`+\infty` otherwise.
    * :math:`\mathrm{prox}_{t\Psi}(w) = w_+`, :math:`\mathrm{prox}_{c\phi}(w) = (w/(1+c))_+`.
    """

    psi_is_indicator = True

    def sigma(self, v):
        return torch.relu(v)

    def derivative(self, v):
        return (v > 0).to(v.dtype)

    def in_domain(self, y):
        return y >= -DOMAIN_RTOL

    def _clamp_closure(self, y):
        return y.clamp_min(0.0)

    def psi(self, y):
        return self._where_domain(y, torch.zeros_like(y))

    def phi_conj(self, v):
        return 0.5 * torch.relu(v) ** 2

    def project(self, y):
        return y.clamp_min(0.0)

    def _penalty_terms(self, y, v):
        return 0.5 * (y - torch.relu(v)) ** 2 + y * torch.relu(-v)

    def prox_psi(self, w, t=1.0):
        check_nonneg("t", t)
        return torch.relu(w)

    def prox_psi_(self, w, t=1.0):
        if w.requires_grad:
            return self.prox_psi(w, t)
        check_nonneg("t", t)
        return w.clamp_(min=0.0)

    def increment(self, v, d, sigma_v=None):
        r""":math:`\max(v,0) - \max(v-d,0) = \min(d, v) - \min(v, 0)`: exactly :math:`d` where both
        points are active and exactly 0 where both are not."""
        return torch.minimum(d, v).sub_(v.clamp_max(0.0))


class LeakyReLU(ProxActivation):
    r"""Leaky ReLU :math:`\sigma(v) = \max(v, a v)` with slope :math:`0 < a \le 1`.

    ``negative_slope`` is a number, or a 1-D tensor of one slope per channel applied along
    dim 1 (``nn.PReLU(num_parameters=C)``; inputs then need ``C`` entries in dim 1).
    With :math:`k = 1/a - 1 \ge 0` and :math:`m(y) = \min(y, 0)`:

    * :math:`\Psi(y) = \tfrac k2 m(y)^2`, :math:`\phi(y) = \tfrac12 y^2` (:math:`y \ge 0`),
      :math:`y^2/(2a)` (:math:`y < 0`); :math:`\phi^*(v) = \tfrac12 v^2` (:math:`v \ge 0`),
      :math:`\tfrac a2 v^2` (:math:`v < 0`), i.e. :math:`\tfrac12 v\,\sigma(v)`.
    * With :math:`s = \sigma(v)`:
      :math:`B(y, v) = \tfrac12 (y - s)^2 + \tfrac k2\big[(m(y) - m(s))^2 - 2\,m(s)\,y_+\big]`,
      every term :math:`\ge 0` (the bracket is :math:`2D_\Psi(y, s)/k`).
    * :math:`\mathrm{prox}_{t\Psi}(w) = w` (:math:`w \ge 0`), :math:`w/(1 + tk)` (:math:`w < 0`);
      :math:`\mathrm{prox}_{c\phi}(w) = w/(1+c)` (:math:`w \ge 0`), :math:`w/(1 + c/a)`
      (:math:`w < 0`).
    """

    def __init__(self, negative_slope: float | torch.Tensor = 0.01):
        super().__init__()
        per_channel = isinstance(negative_slope, torch.Tensor) and negative_slope.numel() > 1
        a = negative_slope.detach().flatten().clone() if per_channel else float(negative_slope)
        values = a.tolist() if per_channel else [a]
        if all(x == 0.0 for x in values):
            raise ValueError("negative_slope=0 is the plain ReLU; use ReLU()")
        bad = [x for x in values if not 0.0 < x <= 1.0]
        if bad:
            if min(values) >= 0.0 and max(values) <= 1.0:
                raise ValueError(f"LeakyReLU: per-channel slopes mix 0 (ReLU) with positive slopes {values}; "
                                 "not supported")
            why = "not monotone" if bad[0] < 0 else "not 1-Lipschitz"
            raise NotProximalError(
                f"LeakyReLU(negative_slope={bad[0]:g}) is {why}; {PROXIMAL_RULE}, which needs "
                "0 < negative_slope <= 1"
            )
        self.negative_slope = a

    def _a(self, ref):
        """The slope(s), broadcast against ``ref`` (per channel along dim 1)."""
        a = self.negative_slope
        if not isinstance(a, torch.Tensor):
            return a
        if ref.dim() < 2 or ref.shape[1] != a.numel():
            raise ValueError(f"LeakyReLU has {a.numel()} per-channel slopes (dim 1), got shape {tuple(ref.shape)}")
        return as_like(a, ref).view((1, -1) + (1,) * (ref.dim() - 2))

    def _k(self, ref):
        return 1.0 / self._a(ref) - 1.0

    def extra_repr(self) -> str:
        return f"negative_slope={describe(self.negative_slope)}"

    def sigma(self, v):
        """One kernel: ``F.leaky_relu`` (``F.prelu`` for per-channel slopes); a ``where`` of the two
        pieces costs three passes and, under autograd, three nodes."""
        a = self._a(v)
        return F.prelu(v, a.reshape(-1)) if isinstance(a, torch.Tensor) else F.leaky_relu(v, a)

    def derivative(self, v):
        one = torch.ones_like(v)
        return torch.where(v >= 0, one, self._a(v) * one)

    def psi(self, y):
        return 0.5 * self._k(y) * torch.clamp_max(y, 0.0) ** 2

    def phi(self, y):
        return torch.where(y >= 0, 0.5 * y * y, 0.5 * y * y / self._a(y))

    def phi_conj(self, v):
        return 0.5 * v * self.sigma(v)

    def project(self, y):
        return y

    def _penalty_terms(self, y, v):
        s = self.sigma(v)
        my, ms = y.clamp_max(0.0), s.clamp_max(0.0)
        bregman = (my - ms) ** 2 - 2.0 * ms * y.clamp_min(0.0)
        return 0.5 * (y - s) ** 2 + 0.5 * self._k(y) * bregman

    def prox_psi(self, w, t=1.0):
        check_nonneg("t", t)
        t = as_like(t, w)
        return torch.where(w >= 0, w, w / (1.0 + t * self._k(w)))

    def prox_phi(self, w, c=1.0):
        check_nonneg("c", c)
        c = as_like(c, w)
        return torch.where(w >= 0, w / (1.0 + c), w / (1.0 + c / self._a(w)))

    def increment(self, v, d, sigma_v=None):
        r""":math:`\sigma(x) = a x + (1 - a)\max(x, 0)`, so :math:`\sigma(v) - \sigma(v - d) =
        a d + (1 - a)[\min(d, v) - \min(v, 0)]` with ReLU's exact increment: :math:`a d` where both
        points are negative, :math:`d` to two roundings where both are positive, five passes (the
        three pieces by masks took twelve)."""
        a = self._a(v)
        out = torch.minimum(d, v).sub_(v.clamp_max(0.0)).mul_(1.0 - a)
        return out.addcmul_(d, a) if isinstance(a, torch.Tensor) else out.add_(d, alpha=a)
