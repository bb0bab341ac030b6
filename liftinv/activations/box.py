r"""Box clipping (hard-tanh) and soft-thresholding, with parameters that may be tensors.

In unrolled dual forward-backward networks the box is :math:`[-\nu, \nu]` with a learnable
:math:`\nu`, so ``low``/``high``/``threshold`` may be Python floats or (0-dim) tensors; they are
stored as given (a tensor keeps its autograd link) and cast to the input's dtype and device on
every call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..utils.checks import check_nonneg
from .base import DIRECT_SECANT_ROUNDOFF, DOMAIN_RTOL, ProxActivation, as_like, describe  # noqa: F401 (re-exported)

__all__ = ["Clip", "HardTanh", "SoftThreshold"]


def _value(x) -> torch.Tensor:
    return x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(float(x))


class Clip(ProxActivation):
    r"""Clip to a box :math:`[l, h]`: :math:`\sigma(v) = \min(\max(v, l), h)` (hard-tanh).

    With :math:`c = \sigma(v)`:

    * :math:`\Psi = \iota_{[l,h]}`, :math:`\phi(y) = \tfrac12 y^2` on :math:`[l,h]`,
      :math:`\phi^*(v) = \tfrac12 v^2 - \tfrac12 (v - c)^2 = c\,(v - c/2)`.
    * :math:`B(y, v) = \tfrac12 (y - c)^2 + (c - y)(v - c)` for :math:`y \in [l, h]` (both terms
      :math:`\ge 0`), :math:`+\infty` otherwise.  Equal to
      :math:`\tfrac12(y-v)^2 - \tfrac12(v-c)^2`, which cancels for large :math:`|v|`.
    * :math:`\mathrm{prox}_{t\Psi}(w) = \mathrm{clip}(w)`,
      :math:`\mathrm{prox}_{c\phi}(w) = \mathrm{clip}(w/(1+c))`.
    """

    psi_is_indicator = True

    def __init__(self, low=-1.0, high=1.0):
        super().__init__()
        lo, hi = _value(low), _value(high)
        if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
            raise ValueError(f"Clip bounds must be finite, got low={low}, high={high}")
        if not bool((lo < hi).all()):
            raise ValueError(
                f"Clip needs low < high, got low={describe(low)}, high={describe(high)}"
            )
        self.low = low if isinstance(low, torch.Tensor) else float(low)
        self.high = high if isinstance(high, torch.Tensor) else float(high)

    def extra_repr(self) -> str:
        return f"low={describe(self.low)}, high={describe(self.high)}"

    @property
    def _float_bounds(self) -> bool:
        """Both bounds Python floats: the one-kernel, in-place forms apply."""
        return isinstance(self.low, float) and isinstance(self.high, float)

    def _bounds(self, ref):
        return as_like(self.low, ref), as_like(self.high, ref)

    def _clip(self, x):
        if self._float_bounds:
            return x.clamp(self.low, self.high)  # one fused op, cheap backward
        lo, hi = self._bounds(x)
        return torch.minimum(torch.maximum(x, lo), hi)

    def prox_phi(self, w, c=1.0):
        """:math:`\\mathrm{clip}(w/(1+c))` in one pass for scalar ``c`` and float bounds."""
        if isinstance(c, float) and self._float_bounds:
            check_nonneg("c", c)
            return (w / (1.0 + c)).clamp_(self.low, self.high)
        return super().prox_phi(w, c)

    def sigma(self, v):
        return self._clip(v)

    def derivative(self, v):
        lo, hi = self._bounds(v)
        return ((v > lo) & (v < hi)).to(v.dtype)

    def in_domain(self, y):
        lo, hi = self._bounds(y)
        return (y >= lo - DOMAIN_RTOL * (1 + lo.abs())) & (y <= hi + DOMAIN_RTOL * (1 + hi.abs()))

    def _clamp_closure(self, y):
        return self._clip(y)

    def psi(self, y):
        return self._where_domain(y, torch.zeros_like(y))

    def phi_conj(self, v):
        c = self._clip(v)
        return c * (v - 0.5 * c)

    def project(self, y):
        return self._clip(y)

    def _penalty_terms(self, y, v):
        c = self._clip(v)
        return 0.5 * (y - c) ** 2 + (c - y) * (v - c)

    def prox_psi(self, w, t=1.0):
        check_nonneg("t", t)
        return self._clip(w)

    def prox_psi_(self, w, t=1.0):
        if self._float_bounds and not w.requires_grad:
            check_nonneg("t", t)
            return w.clamp_(self.low, self.high)
        return self.prox_psi(w, t)

    def increment(self, v, d, sigma_v=None):
        r""":math:`\mathrm{clip}(v) - \mathrm{clip}(v - d) = \mathrm{clip}(v) - v + \mathrm{clamp}(d, v - h,
        v - l)`: exactly :math:`d` where both points are inside the box, exactly 0 where both are
        beyond one bound."""
        lo, hi = self._bounds(v)
        c = self._clip(v) if sigma_v is None else sigma_v
        return torch.clamp(d, v - hi, v - lo).add_(c - v)

    def secant_(self, v, g, h, sigma_v=None):
        r"""With :math:`c = \mathrm{clip}(v)`, in ``g``'s memory (float bounds :math:`[l_b, h_b]`), one
        of two forms, both exactly 0 where a unit stays beyond one bound:

        * **direct**, :math:`(c - \mathrm{clip}(v - hg))/h` in four in-place passes, where its
          round-off is small (on the CPU): rounding :math:`v - hg` costs at most
          :math:`\epsilon B` (:math:`B = \max(|l_b|, |h_b|)`: only points inside the box are kept), so
          :math:`\epsilon B/h` on a residual, used when that is at most
          :data:`DIRECT_SECANT_ROUNDOFF` times the RMS of ``g`` (:meth:`_direct_secant_`);
        * **cancellation-free** otherwise (tiny steps, or on a GPU, where the test would cost a
          synchronisation): with :math:`e = v - c` (0 inside the box, exactly),
          :math:`\mathrm{clamp}(g - e/h, (c - h_b)/h, (c - l_b)/h)` in eight passes, exactly
          :math:`g` where both points are inside the box (each bound is formed from :math:`c`
          itself, so a saturated unit's is exactly 0: the lower bound shifted by
          :math:`(h_b - l_b)/h` would leave it at a round-off of that large number)."""
        if not self._float_bounds or g.requires_grad:
            return super().secant_(v, g, h, sigma_v)
        c = self._clip(v) if sigma_v is None else sigma_v
        direct = self._direct_secant_(v, g, h, c)
        if direct is not None:
            return direct
        e = torch.sub(v, c)
        g.sub_(e, alpha=1.0 / h)
        torch.maximum(g, torch.sub(c, self.high, out=e).div_(h), out=g)
        return torch.minimum(g, torch.sub(c, self.low, out=e).div_(h), out=g)

    @property
    def secant_roundoff(self) -> float | None:
        r""":math:`B = \max(|l_b|, |h_b|)`: rounding :math:`v - hg` costs at most :math:`\epsilon B` on
        the points the clip keeps (float bounds only)."""
        return max(abs(self.low), abs(self.high)) if self._float_bounds else None

    def _sigma_(self, x):
        return x.clamp_(self.low, self.high)


class HardTanh(Clip):
    r"""Hard-tanh, the clip to :math:`[-1, 1]` (alias of :class:`Clip` with those defaults)."""

    def __init__(self, low=-1.0, high=1.0):
        super().__init__(low, high)


class SoftThreshold(ProxActivation):
    r"""Soft-thresholding :math:`\sigma(v) = S_\alpha(v) = \mathrm{sign}(v)\max(|v| - \alpha, 0)`.

    * :math:`\Psi(y) = \alpha|y|`, :math:`\phi(y) = \tfrac12 y^2 + \alpha|y|`,
      :math:`\phi^*(v) = \tfrac12 S_\alpha(v)^2`.
    * :math:`v - S_\alpha(v) = \mathrm{clip}_{[-\alpha,\alpha]}(v) \in \partial\Psi(S_\alpha(v))`,
      so :math:`B(y, v) = \tfrac12 (y - S_\alpha(v))^2 + \alpha|y| -
      \mathrm{clip}_{[-\alpha,\alpha]}(v)\,y`, both terms :math:`\ge 0`.
    * :math:`\mathrm{prox}_{t\Psi}(w) = S_{t\alpha}(w)`,
      :math:`\mathrm{prox}_{c\phi}(w) = S_{c\alpha/(1+c)}(w/(1+c))`.
    """

    def __init__(self, threshold=0.1):
        super().__init__()
        a = _value(threshold)
        if not (torch.isfinite(a).all() and bool((a > 0).all())):
            raise ValueError(f"SoftThreshold needs a finite threshold > 0, got {threshold}")
        self.threshold = threshold if isinstance(threshold, torch.Tensor) else float(threshold)

    def extra_repr(self) -> str:
        return f"threshold={describe(self.threshold)}"

    def _alpha(self, ref):
        return as_like(self.threshold, ref)

    @staticmethod
    def _shrink(w, tau):
        return torch.sign(w) * torch.relu(w.abs() - tau)

    def sigma(self, v):
        """``F.softshrink`` for a scalar threshold (one kernel with a fused backward, what a torch
        network computes), else the pieces."""
        if isinstance(self.threshold, float):
            return F.softshrink(v, self.threshold)
        return self._shrink(v, self._alpha(v))

    def derivative(self, v):
        return (v.abs() > self._alpha(v)).to(v.dtype)

    def psi(self, y):
        return self._alpha(y) * y.abs()

    def phi_conj(self, v):
        return 0.5 * self.sigma(v) ** 2

    def project(self, y):
        return y

    def _penalty_terms(self, y, v):
        a = self._alpha(v)
        clipped = torch.minimum(torch.maximum(v, -a), a)
        return 0.5 * (y - self.sigma(v)) ** 2 + (a * y.abs() - clipped * y)

    def prox_psi(self, w, t=1.0):
        check_nonneg("t", t)
        return self._shrink(w, as_like(t, w) * self._alpha(w))

    def increment(self, v, d, sigma_v=None):
        r"""With :math:`S_\alpha = \mathrm{id} - \mathrm{clip}_{[-\alpha,\alpha]}`:
        :math:`S_\alpha(v) - S_\alpha(v - d) = d - (\mathrm{clamp}(d, v - \alpha, v + \alpha) - S_\alpha(v))`,
        exactly :math:`d` where both points are beyond one threshold and exactly 0 where both are in
        the dead zone."""
        a = self._alpha(v)
        s = self.sigma(v) if sigma_v is None else sigma_v
        return d - torch.clamp(d, v - a, v + a).sub_(s)
