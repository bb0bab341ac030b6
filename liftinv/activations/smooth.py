r"""Smooth proximal activations with an open domain: sigmoid and tanh.

Their :math:`\phi` are (scaled) binary negentropies, so the lifted Bregman penalty is a
Bernoulli Kullback-Leibler divergence, evaluated with ``torch.xlogy`` and ``logaddexp``
(softplus) so that :math:`B(\sigma(v), v) = 0` holds to round-off even for :math:`|v| = 10^3`.
The prox of :math:`c\phi` has no closed form: :mod:`.scalar_solve` solves
:math:`u + c\,\phi'(u) = w` by monotone Newton in the logit variable.
"""

from __future__ import annotations

import math

import torch

from ..utils.checks import check_nonneg
from .base import DOMAIN_RTOL, ProxActivation, as_like
from .scalar_solve import solve_saturating

__all__ = ["Sigmoid", "Tanh"]

_LOG2 = math.log(2.0)


def _softplus(x: torch.Tensor) -> torch.Tensor:
    """log(1 + e^x) without overflow (exact for large x, unlike F.softplus's threshold)."""
    return torch.logaddexp(torch.zeros_like(x), x)


def _open_eps(dtype: torch.dtype) -> float:
    """Margin used by ``project`` to stay inside an open domain (1.9e-6 f32, 3.6e-15 f64)."""
    return 16.0 * torch.finfo(dtype).eps


class _OpenInterval(ProxActivation):
    """Shared code for an activation whose Psi lives on the open interval (lo, 1)."""

    _lo = 0.0
    # constants of the logit parametrisation u = m + r*tanh(kappa*z) used by the prox solver
    _m = _r = _kappa = 0.0

    def in_domain(self, y):
        tol = DOMAIN_RTOL * 2.0
        return (y >= self._lo - tol) & (y <= 1.0 + tol)

    def _clamp_closure(self, y):
        return y.clamp(self._lo, 1.0)

    def psi(self, y):
        yc = self._clamp_closure(y)
        return self.phi(y) - 0.5 * yc * yc

    def project(self, y):
        eps = _open_eps(y.dtype)
        return y.clamp(self._lo + eps, 1.0 - eps)

    def _u_of_z(self, z):
        raise NotImplementedError

    def secant_(self, v, g, h, sigma_v=None):
        r"""In ``g``'s memory, the first of three forms that is accurate for this step (on a CPU,
        where one or two reductions of ``g`` decide; on a GPU the third):

        * **expanded**, where every displacement :math:`d = hg` is so small that the secant's
          expansion :math:`\sigma'(v) - \sigma''(v)d/2` is exact to the dtype's precision
          (:meth:`_expanded_secant_`, four to six cheap passes);
        * **direct**, the plain difference, where its round-off :math:`2\epsilon/h` is small
          against ``g`` (:meth:`~liftinv.activations.ProxActivation._direct_secant_`, four passes);
        * **exact**, :meth:`increment`'s cancellation-free form divided by ``h`` (two ``tanh``, or
          an ``expm1``: each costs three to eight cheap passes on a CPU).

        The expanded form serves the steps too small for the direct one: in a deep network the
        directions ``g`` of the lower layers shrink (by up to 1/4 per sigmoid layer).  Its test
        (one ``aminmax``) is the cheaper, so it comes first."""
        if g.requires_grad:
            return super().secant_(v, g, h, sigma_v)
        s = self.sigma(v) if sigma_v is None else sigma_v
        reach = self._reach(g, h)
        out = self._expanded_secant_(v, g, h, s, reach)
        if out is None:
            out = self._direct_secant_(v, g, h, s)
        return self._exact_secant_(v, g, h, s, reach) if out is None else out

    def _reach(self, g, h: float) -> float | None:
        r""":math:`\kappa h\max|g|`, the largest displacement in :math:`\kappa`'s units (one ``aminmax``),
        on a CPU; ``None`` on a GPU, where reading it would synchronise."""
        if g.device.type != "cpu":
            return None
        lo, hi = torch.aminmax(g)
        return self._kappa * h * max(-float(lo), float(hi))

    def _expanded_secant_(self, v, g, h: float, s, reach: float | None = None):
        r"""With :math:`\sigma = m + r\tanh(\kappa\,\cdot)` and :math:`T = (\sigma(v) - m)/r`:
        :math:`\sigma' = r\kappa(1 - T^2)` and :math:`\sigma''/\sigma' = -2\kappa T`, so

        .. math:: \frac{\sigma(v) - \sigma(v - hg)}{h} = \sigma'(v)\,g\,(1 + \kappa T hg)
                  + \sigma'(v)\,g\,\rho,\qquad |\rho| \le \tfrac23\kappa^2 (hg)^2

        (the next term: :math:`\sigma^{(3)}/\sigma' = -2\kappa^2(1 - 3T^2)`), taken where
        :math:`\tfrac32 (\kappa h\max|g|)^2 \le \epsilon`, that is :math:`|\rho| \le \epsilon`;
        else ``None``.  Five cheap passes (tanh: four), no transcendental function."""
        reach = self._reach(g, h) if reach is None else reach
        if reach is None or 1.5 * reach * reach > torch.finfo(g.dtype).eps:
            return None
        c = self._kappa * h / self._r  # kappa T h g = c (s - m) g
        t = torch.mul(s, g) if self._m == 0.0 else torch.sub(s, self._m).mul_(g)  # (s - m) g
        return self._times_slope_(g.addcmul_(t, g, value=c), v, s)  # g (1 + kappa T h g) sigma'(v)

    def _times_slope_(self, x, v, s):
        r"""``x`` times :math:`\sigma'(v)`, in ``x``'s memory (``s``: :math:`\sigma(v)`)."""
        raise NotImplementedError

    def _exact_secant_(self, v, g, h, s, reach: float | None = None):
        """:meth:`increment`'s cancellation-free form divided by ``h``, in ``g``'s memory (``reach``:
        :meth:`_reach`, when known)."""
        raise NotImplementedError

    def increment(self, v, d, sigma_v=None):
        r"""With :math:`\sigma = m + r\tanh(\kappa\,\cdot)`: :math:`\sigma(v) - \sigma(v - d) =
        r\tanh(\kappa d)\,(1 - \tanh(\kappa v)\tanh(\kappa(v - d)))`, free of cancellation."""
        m, r, k = self._m, self._r, self._kappa
        tv = torch.tanh(k * v) if sigma_v is None else sigma_v if (m, r) == (0.0, 1.0) else (sigma_v - m) / r
        tw = torch.tanh(v - d if k == 1.0 else k * (v - d))
        inc = torch.tanh(d if k == 1.0 else k * d).mul_(tw.mul_(tv).neg_().add_(1.0))
        return inc if r == 1.0 else inc.mul_(r)

    def _solve(self, w, a, b, start=None):
        """u in the closed interval with a*u + b*phi'(u) = w (u = clip(w / a) where b = 0);
        ``start``: a guess of phi'(u), the logit of the root."""
        z = solve_saturating(a, b, w, self._m, self._r, self._kappa, start)
        u = self._u_of_z(z)
        if isinstance(b, float):  # one step size for the whole tensor
            return u if b > 0 else self._clamp_closure(w / (a if a != 0 else 1.0))
        a_safe = torch.where(a != 0, a, torch.ones_like(a))
        return torch.where(b > 0, u, self._clamp_closure(w / a_safe))

    def prox_psi(self, w, t=1.0):
        r""":math:`\mathrm{prox}_{t\Psi}(w)`: the root of :math:`(1-t)u + t\,\phi'(u) = w`."""
        return self.prox_psi_warm(w, t, None)

    def prox_psi_warm(self, w, t, v):
        r""":meth:`prox_psi` solved from the guess :math:`\sigma(v)`: in the logit variable
        :math:`z = \phi'(u)` the guess is :math:`v` itself (``v = None``: the generic start)."""
        check_nonneg("t", t)
        if isinstance(t, (int, float)):  # a number: the scalar path; below the dtype's range, t = 0
            t = float(t) if t >= torch.finfo(w.dtype).tiny else 0.0
        else:
            t = as_like(t, w)
        return self._solve(w, 1.0 - t, t, start=v)

    def prox_phi(self, w, c=1.0):
        r""":math:`\mathrm{prox}_{c\phi}(w)`: the root of :math:`u + c\,\phi'(u) = w`."""
        check_nonneg("c", c)
        c = as_like(c, w)
        return self._solve(w, torch.ones_like(c), c)


class Sigmoid(_OpenInterval):
    r"""Logistic sigmoid :math:`\sigma(v) = 1/(1 + e^{-v})`.

    * :math:`\phi(y) = y\log y + (1-y)\log(1-y)` on :math:`[0, 1]` (negative binary entropy),
      :math:`\Psi(y) = \phi(y) - \tfrac12 y^2` (convex: :math:`\Psi'' = 1/(y(1-y)) - 1 \ge 3`),
      :math:`\phi' = \mathrm{logit}`, :math:`\phi^*(v) = \log(1 + e^v)` (softplus).
    * :math:`B(y, v) = \mathrm{BCEWithLogits}(v; y) - H_b(y) = \mathrm{KL}(y\,\|\,\sigma(v))`,
      evaluated as :math:`[\,y\log y + y\,\mathrm{sp}(-v)] + [(1-y)\log(1-y) +
      (1-y)\,\mathrm{sp}(v)]` with :math:`\mathrm{sp}` = softplus (``logaddexp``) and
      ``xlogy``; :math:`B \ge 2(y - \sigma(v))^2`.
    * :math:`\mathrm{prox}_{c\phi}(w)` solves :math:`u + c\,\mathrm{logit}(u) = w`; with
      :math:`u = \sigma(z)` this is :math:`\sigma(z) + cz = w` (monotone Newton, see
      :mod:`.scalar_solve`).  :math:`\mathrm{prox}_{t\Psi}` solves
      :math:`(1-t)\sigma(z) + tz = w`, so :math:`\mathrm{prox}_\Psi = \sigma`.
    * ``project`` clamps into :math:`[\epsilon, 1-\epsilon]`, :math:`\epsilon = 16\,
      \mathrm{eps}(\text{dtype})`; ``penalty``/``phi`` accept the closed interval.
    """

    _lo = 0.0
    _m = _r = _kappa = 0.5

    def _u_of_z(self, z):
        return torch.sigmoid(z)

    def sigma(self, v):
        return torch.sigmoid(v)

    def derivative(self, v):
        s = torch.sigmoid(v)
        return s * (1.0 - s)

    def increment(self, v, d, sigma_v=None):
        r""":math:`\sigma(v) - \sigma(v - d) = \sigma(v)\,\sigma(d - v)\,(1 - e^{-d})`, free of
        cancellation (``expm1``)."""
        s = torch.sigmoid(v) if sigma_v is None else sigma_v
        return torch.sigmoid(d - v).mul_(torch.expm1(-d)).mul_(s).neg_()

    #: :meth:`_direct_secant_`'s :math:`B`: both values of :math:`\sigma` lie in :math:`[0, 1]` and
    #: rounding the argument :math:`w` moves :math:`\sigma` by at most
    #: :math:`\epsilon|w|\sigma'(w) \le 0.23\,\epsilon`.
    secant_roundoff = 2.0

    def _sigma_(self, x):
        return x.sigmoid_()

    def _times_slope_(self, x, v, s):
        r""":math:`\sigma' = s(1 - s)`, :math:`s = \sigma(v)`, as back-propagation forms it: two
        passes, ``x s`` then ``x s - x s s``."""
        x.mul_(s)
        return x.addcmul_(x, s, value=-1.0)

    def _exact_secant_(self, v, g, h, s, reach=None):
        r""":math:`-\sigma(v)\sigma(hg - v)\,\mathrm{expm1}(-hg)/h` (eight passes, one of them
        ``expm1``, which costs as much as six others on a CPU)."""
        far = torch.add(v, g, alpha=-h).neg_().sigmoid_()  # sigma(hg - v)
        return far.mul_(g.mul_(-h).expm1_()).mul_(s).div_(-h)

    def phi(self, y):
        yc = self._clamp_closure(y)
        q = 1.0 - yc
        return self._where_domain(y, torch.xlogy(yc, yc) + torch.xlogy(q, q))

    def phi_conj(self, v):
        return _softplus(v)

    def _penalty_terms(self, y, v):
        q = 1.0 - y
        return (torch.xlogy(y, y) + y * _softplus(-v)) + (torch.xlogy(q, q) + q * _softplus(v))


class Tanh(_OpenInterval):
    r"""Hyperbolic tangent :math:`\sigma(v) = \tanh v`.

    * :math:`\phi(y) = \tfrac12[(1+y)\log(1+y) + (1-y)\log(1-y)]` on :math:`[-1, 1]`,
      :math:`\Psi(y) = \phi(y) - \tfrac12 y^2` (convex: :math:`\Psi'' = y^2/(1-y^2) \ge 0`),
      :math:`\phi' = \mathrm{artanh}`, :math:`\phi^*(v) = \log\cosh v
      = |v| + \mathrm{log1p}(e^{-2|v|}) - \log 2`.
    * With :math:`p = (1+y)/2` and :math:`\tanh v = 2\sigma(2v) - 1`,
      :math:`B_{\tanh}(y, v) = \phi(y) + \log\cosh v - yv = B_{\mathrm{sigmoid}}(p, 2v)
      = \mathrm{KL}(p\,\|\,\sigma(2v))`, evaluated like the sigmoid's with :math:`p` and
      :math:`q = (1-y)/2` formed directly; :math:`B \ge \tfrac12 (y - \tanh v)^2`.
    * :math:`\mathrm{prox}_{c\phi}(w)` solves :math:`u + c\,\mathrm{artanh}(u) = w`, i.e.
      :math:`\tanh z + cz = w`; :math:`\mathrm{prox}_{t\Psi}`: :math:`(1-t)\tanh z + tz = w`.
    * ``project`` clamps into :math:`[-1+\epsilon, 1-\epsilon]`.
    """

    _lo = -1.0
    _m, _r, _kappa = 0.0, 1.0, 1.0

    def _u_of_z(self, z):
        return torch.tanh(z)

    def sigma(self, v):
        return torch.tanh(v)

    def derivative(self, v):
        t = torch.tanh(v)
        return 1.0 - t * t

    # no direct form (``secant_roundoff`` stays None): its ``tanh`` costs what the exact form's
    # second one costs

    def _times_slope_(self, x, v, s):
        r""":math:`\tanh' = 1 - \tanh^2 v`, formed from :math:`\tanh v` as back-propagation and the
        exact form have it."""
        return x.addcmul_(torch.mul(x, s), s, value=-1.0)

    def _exact_secant_(self, v, g, h, tv, reach=None):
        r""":math:`\tanh(hg)(1 - \tanh v\tanh(v - hg))/h` (seven passes, two ``tanh``).

        Where every displacement is moderate, :math:`\tfrac{2}{15}(h\max|g|)^4 \le \epsilon` (float32:
        :math:`h|g| \le 0.031`, the steps of a network in training; the expanded form stops at
        :math:`2.8\cdot10^{-4}`), :math:`\tanh(hg)/h = g(1 - (hg)^2/3)` to the dtype's precision (the
        series :math:`1 - x^2/3 + 2x^4/15 - \dots` of :math:`\tanh(x)/x` alternates, so its error is
        below the first term left out): six passes and one ``tanh``."""
        product = torch.add(v, g, alpha=-h).tanh_().mul_(tv)  # tanh v tanh(v - hg)
        if reach is not None and 2.0 / 15.0 * reach**4 <= torch.finfo(g.dtype).eps:
            step = g.addcmul_(torch.mul(g, g), g, value=-h * h / 3.0)  # tanh(hg)/h
            return step.addcmul_(step, product, value=-1.0)
        step = g.mul_(h).tanh_()
        return step.addcmul_(step, product, value=-1.0).div_(h)

    def phi(self, y):
        yc = self._clamp_closure(y)
        p, q = 1.0 + yc, 1.0 - yc
        return self._where_domain(y, 0.5 * (torch.xlogy(p, p) + torch.xlogy(q, q)))

    def phi_conj(self, v):
        av = v.abs()
        return av + torch.log1p(torch.exp(-2.0 * av)) - _LOG2

    def _penalty_terms(self, y, v):
        p, q = 0.5 * (1.0 + y), 0.5 * (1.0 - y)
        z = 2.0 * v
        return (torch.xlogy(p, p) + p * _softplus(-z)) + (torch.xlogy(q, q) + q * _softplus(z))
