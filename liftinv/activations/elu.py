r"""The exponential linear unit (``nn.ELU``, ``nn.CELU``) as a proximal activation.

:math:`\sigma(v) = v` for :math:`v > 0` and :math:`\alpha(e^{v/\beta} - 1)` for :math:`v \le 0`
(:math:`\beta = 1`: ``nn.ELU(alpha)``; :math:`\beta = \alpha`: ``nn.CELU(alpha)``).  It is
non-decreasing, with slope :math:`(\alpha/\beta)e^{v/\beta} \le \alpha/\beta` on the negative
side, so it is a proximal map iff :math:`0 < \alpha \le \beta` (``nn.ELU`` needs
:math:`\alpha \le 1`; every ``nn.CELU`` qualifies).  Its range is :math:`(-\alpha, \infty)`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..utils.checks import check_nonneg
from .base import DOMAIN_RTOL, ProxActivation, as_like, describe
from .errors import PROXIMAL_RULE, NotProximalError
from .fastmath import elu_no_graph, expm1_nonpositive
from .scalar_solve import solve_exponential

__all__ = ["ELU"]


#: the most terms :meth:`ELU._series_secant_` sums (two cheap passes each)
SERIES_TERMS = 5


def _series_terms(x: float, eps: float) -> int | None:
    r"""The fewest terms :math:`n \le` :data:`SERIES_TERMS` of :math:`1 - e^{-y} = y - y^2/2 + y^3/6 - \dots`
    that give it to the relative precision ``eps`` for every :math:`|y| \le x < 1`: the omitted tail is
    at most :math:`|y|^{n+1}/(n+1)!` over :math:`1 - x/(n+2)` (a geometric bound; the terms alternate
    only for :math:`y > 0`), and the value at least :math:`|y|(1 - x/2)`, so the relative error at
    most :math:`x^n / ((n+1)!\,(1 - x/(n+2))(1 - x/2))`; ``None`` where that exceeds ``eps`` for
    every :math:`n` (in float32: :math:`x` above 0.15)."""
    for n in range(1, SERIES_TERMS + 1):
        if x < 1.0 and x ** n / (math.factorial(n + 1) * (1.0 - x / (n + 2)) * (1.0 - x / 2)) <= eps:
            return n
    return None


class ELU(ProxActivation):
    r"""ELU :math:`\sigma(v) = \max(v, 0) + \min(\alpha(e^{v/\beta} - 1), 0)`, :math:`0 < \alpha \le \beta`.

    With :math:`y_\pm`, :math:`v_\pm` the positive and negative parts and :math:`p = \alpha + y_-`:

    * :math:`\phi' = \sigma^{-1}`: :math:`y` for :math:`y \ge 0`, :math:`\beta\log(1 + y/\alpha)` on
      :math:`(-\alpha, 0)`; :math:`\phi(y) = \tfrac12 y_+^2 + \beta\,[p\log(p/\alpha) - y_-]`
      on :math:`\mathrm{dom}\,\Psi = [-\alpha, \infty)` (finite at :math:`-\alpha`),
      :math:`\Psi = \phi - \tfrac12 y^2` (convex: :math:`\Psi'' = \beta/(\alpha + y) - 1 \ge 0`).
    * :math:`\phi^*(v) = \tfrac12 v_+^2 + \alpha\,[\beta(e^{v_-/\beta} - 1) - v_-]`.
    * With :math:`q = \alpha e^{v_-/\beta}` (so :math:`q = \alpha + \sigma(v)_-`):
      :math:`B(y, v) = \tfrac12(y_+ - v_+)^2 - y_+v_- - y_-v_+ + \beta\,[p\log(p/q) - p + q]`,
      every term :math:`\ge 0` (the last is a generalised Kullback-Leibler divergence).
    * :math:`\mathrm{prox}_{t\Psi}(w) = w` for :math:`w \ge 0`; for :math:`w < 0` it is
      :math:`u = \alpha(e^\zeta - 1)` with :math:`(1-t)\alpha(e^\zeta - 1) + t\beta\zeta = w`
      (:math:`\zeta = \phi'(u)/\beta`), solved by monotone Newton
      (:func:`~liftinv.activations.scalar_solve.solve_exponential`); :math:`t = 0` is the
      projection onto :math:`[-\alpha, \infty)`.  :math:`\mathrm{prox}_{c\phi}` follows from it.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0):
        super().__init__()
        alpha, beta = float(alpha), float(beta)
        if not (math.isfinite(alpha) and math.isfinite(beta) and beta > 0):
            raise ValueError(f"ELU needs finite alpha and beta > 0, got alpha={alpha}, beta={beta}")
        if alpha == 0.0:
            raise ValueError("ELU with alpha=0 is the plain ReLU; use ReLU()")
        if not 0.0 < alpha <= beta:
            why = ("not monotone (alpha < 0)" if alpha < 0 else
                   f"not 1-Lipschitz (its slope alpha/beta * e^(v/beta) tends to {alpha / beta:g} > 1 as v -> 0-)")
            raise NotProximalError(f"ELU(alpha={alpha:g}, beta={beta:g}) is {why}; {PROXIMAL_RULE}, "
                                   "which needs 0 < alpha <= beta (alpha <= 1 for nn.ELU)")
        self.alpha, self.beta = alpha, beta
        #: the coefficients alpha (-1)^(k-1) / (k! beta^k) of _series_secant_
        self._series = [alpha * (-1.0) ** (k - 1) / (math.factorial(k) * beta ** k) for k in range(1, SERIES_TERMS + 1)]

    def extra_repr(self) -> str:
        return f"alpha={describe(self.alpha)}, beta={describe(self.beta)}"

    def sigma(self, v):
        """Without a graph, on a float32 CPU tensor: :func:`~.fastmath.elu_no_graph` (no ``expm1``, to
        float32's absolute rounding); else ``F.elu`` (``beta = 1``) or ``F.celu`` (``beta = alpha``),
        one kernel with a fused backward, what a torch network computes; other pairs by the pieces."""
        fast = elu_no_graph(v, self.alpha, self.beta)
        if fast is not None:
            return fast
        if self.beta == 1.0:
            return F.elu(v, self.alpha)
        if self.beta == self.alpha:
            return F.celu(v, self.alpha)
        return torch.where(v > 0, v, self.alpha * expm1_nonpositive(v.clamp_max(0.0) / self.beta))

    def derivative(self, v):
        slope = (self.alpha / self.beta) * torch.exp(v.clamp_max(0.0) / self.beta)
        return torch.where(v > 0, torch.ones_like(v), slope)

    def increment(self, v, d, sigma_v=None):
        r"""With :math:`w = v - d` and :math:`\sigma(x) = x_+ + \alpha\,\mathrm{expm1}(x_-/\beta)`:
        :math:`\sigma(v) - \sigma(w) = r - \alpha\,\mathrm{sign}(\delta)\,e^{\max(v_-, w_-)/\beta}\,
        \mathrm{expm1}(-|\delta|/\beta)`, where :math:`r = v_+ - w_+ = \min(d, v) - \min(v, 0)` (ReLU's
        exact increment) and :math:`\delta = v_- - w_- = d - r` (exactly 0 or :math:`d` on one piece):
        :math:`d` exactly where both points are positive, full relative precision where both are not,
        and every ``expm1`` of a non-positive argument (:func:`~.fastmath.expm1_nonpositive`, a tenth of
        ``torch.expm1``'s cost in float32 on a CPU)."""
        r = torch.minimum(d, v).sub_(v.clamp_max(0.0))
        delta = d - r
        top = torch.maximum(v, v - d).clamp_max_(0.0).div_(self.beta).exp_()
        tail = expm1_nonpositive(delta.abs().mul_(-1.0 / self.beta))
        return r.addcmul_(top.mul_(tail), delta.sign(), value=-self.alpha)

    def secant_(self, v, g, h, sigma_v=None):
        r"""The secant residual :math:`(\sigma(v) - \sigma(v - hg))/h` in ``g``'s memory: on a CPU, where
        the step is small enough (one ``aminmax`` of ``g`` decides), the truncated series
        :meth:`_series_secant_` (about fifteen cheap passes, no ``expm1``), else :meth:`increment`'s
        form divided by ``h`` (about twenty passes, one ``tanh``).  On a GPU the latter, where reading
        the step's size would synchronise."""
        if g.requires_grad or g.device.type != "cpu":
            return super().secant_(v, g, h, sigma_v)
        lo, hi = torch.aminmax(g)
        x = h * max(-float(lo), float(hi)) / self.beta  # the largest |delta| / beta
        terms = _series_terms(x, torch.finfo(g.dtype).eps)
        if terms is None:
            return super().secant_(v, g, h, sigma_v)
        return self._series_secant_(v, g, h, terms)

    def _series_secant_(self, v, g, h: float, terms: int):
        r"""With :math:`d = hg`, :math:`r = v_+ - w_+ = \min(d, v) - v_-` and :math:`\delta = v_- - w_- = d - r`
        (:meth:`increment`'s exact split of the step between the two pieces, :math:`w = v - d`):

        .. math:: \sigma(v) - \sigma(w) = r + \alpha e^{v_-/\beta}\,(1 - e^{-\delta/\beta})
                  = r + \alpha e^{v_-/\beta}\sum_{k=1}^{n} \frac{(-1)^{k-1}}{k!}
                    \Big(\frac{\delta}{\beta}\Big)^k + \rho,

        :math:`|\rho|` at most the first omitted term, :math:`\frac{|x|^{n}}{(n+1)!}` times the sum's
        first, for :math:`|\delta|/\beta \le x`; :func:`_series_terms` takes the smallest :math:`n`
        with that below the dtype's epsilon.  Where the step stays on one piece, one of the two
        terms is exactly zero (:math:`r = 0` or :math:`\delta = 0`); where it crosses the kink both
        have the sign of :math:`d`: so each entry keeps its full relative precision.  Every scalar
        enters as an ``alpha`` of an ``add_`` or a 0-dim tensor (torch converts a plain number
        operand of a tensor op with a copy that costs about a pass at these sizes)."""
        hs = torch.scalar_tensor(h, dtype=g.dtype)
        d = g.mul_(hs)
        vn = v.clamp_max(0.0)
        r = torch.minimum(d, v).sub_(vn)
        delta = d.sub_(r)
        u = (vn if self.beta == 1.0 else vn.div_(self.beta)).exp_().mul_(delta)  # e^{v_-/beta} delta
        for k in range(1, terms + 1):
            if k > 1:
                u.mul_(delta)
            r.add_(u, alpha=self._series[k - 1])
        return r.div_(hs)

    def in_domain(self, y):
        return y >= -self.alpha - DOMAIN_RTOL * (1.0 + self.alpha)

    def _clamp_closure(self, y):
        return y.clamp_min(-self.alpha)

    def project(self, y):
        return y.clamp_min(-self.alpha)

    def _negative_part(self, y):
        """:math:`\\beta[p\\log(p/\\alpha) - y_-]`, :math:`p = \\alpha + y_-` (y in the closure)."""
        yn = y.clamp_max(0.0)
        p = (self.alpha + yn).clamp_min(0.0)
        return self.beta * (torch.xlogy(p, p) - p * math.log(self.alpha) - yn)

    def phi(self, y):
        yc = self._clamp_closure(y)
        return self._where_domain(y, 0.5 * yc.clamp_min(0.0) ** 2 + self._negative_part(yc))

    def psi(self, y):
        yc = self._clamp_closure(y)
        return self.phi(y) - 0.5 * yc * yc

    def psi_of_sigma(self, v, sigma_v=None):
        r""":math:`\Psi(\sigma(v)) = v\,s - \phi^*(v) - \tfrac12 s^2` (Fenchel's equality, :math:`s = \sigma(v)`):
        :math:`(s_- + \alpha)\,v_- - \beta s_- - \tfrac12 s_-^2`, zero for :math:`v > 0`; five cheap passes
        where :meth:`psi` takes a ``log`` and an ``xlogy`` of :math:`\alpha + s` (the same cancellation
        near :math:`v = 0^-`, where both are :math:`O(v^2)`)."""
        sn = (self.sigma(v) if sigma_v is None else sigma_v).clamp_max(0.0)
        out = torch.add(sn, self.alpha).mul_(v.clamp_max(0.0)).sub_(sn, alpha=self.beta)
        return out.addcmul_(sn, sn, value=-0.5)

    def phi_conj(self, v):
        vn = v.clamp_max(0.0)
        return 0.5 * v.clamp_min(0.0) ** 2 + self.alpha * (self.beta * expm1_nonpositive(vn / self.beta) - vn)

    def _penalty_terms(self, y, v):
        yp, yn, vp, vn = y.clamp_min(0.0), y.clamp_max(0.0), v.clamp_min(0.0), v.clamp_max(0.0)
        p = (self.alpha + yn).clamp_min(0.0)
        log_q = math.log(self.alpha) + vn / self.beta
        kl = torch.xlogy(p, p) - p * log_q - p + torch.exp(log_q)
        return 0.5 * (yp - vp) ** 2 - yp * vn - yn * vp + self.beta * kl

    def prox_psi(self, w, t=1.0):
        check_nonneg("t", t)
        t = as_like(t, w)
        zeta = solve_exponential((1.0 - t) * self.alpha, t * self.beta, w)
        if bool((t > 0).all()):  # u = alpha (e^zeta - 1), to float32's absolute rounding as sigma
            u = expm1_nonpositive(zeta) if zeta.dtype != torch.float32 else zeta.exp_().sub_(1.0)
            u = u.mul_(self.alpha)
        else:
            u = torch.where(t > 0, self.alpha * expm1_nonpositive(zeta), self._clamp_closure(w))
        return torch.where(w >= 0, w, u)
