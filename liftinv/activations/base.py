r"""Abstract base class of the proximal activations :math:`\sigma = \mathrm{prox}_\Psi`.

Notation (lifted-maths.md, 8.1-8.4): :math:`\Psi` convex, :math:`\sigma = \mathrm{prox}_\Psi`,
:math:`\phi = \tfrac12\|\cdot\|^2 + \Psi`, so that :math:`\nabla\phi^* = \sigma` and
:math:`\partial\phi = \mathrm{id} + \partial\Psi`.  The lifted Bregman penalty is

.. math:: B(y, v) = \phi(y) + \phi^*(v) - \langle y, v\rangle
          = \tfrac12\|y - \sigma(v)\|^2
            + \big[\Psi(y) - \Psi(\sigma(v)) - \langle v - \sigma(v), y - \sigma(v)\rangle\big],

the bracket being the Bregman distance of :math:`\Psi` at :math:`\sigma(v)` with the subgradient
:math:`v - \sigma(v) \in \partial\Psi(\sigma(v))`, hence :math:`B \ge \tfrac12\|y-\sigma(v)\|^2`
and :math:`B(y, v) = 0 \iff y = \sigma(v)`.  :math:`\nabla_v B = \sigma(v) - y` (no
:math:`\sigma'`).  Every subclass evaluates :math:`B` in a closed form free of cancellation.

Tensors carry the batch on dim 0 and any shape after it; everything is elementwise except
softmax (vector-valued along dim 1).  :meth:`ProxActivation.penalty` sums over all non-batch
dims and returns shape ``(B,)``.

Domain tolerance: a point within ``DOMAIN_RTOL * (1 + |bound|)`` of the closed domain of
:math:`\Psi` counts as inside (it is clamped onto the domain before evaluation); farther out,
``psi``/``phi`` give ``+inf`` elementwise and ``penalty`` gives ``+inf`` for that sample.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import nn

from ..utils.checks import check_nonneg

__all__ = ["ProxActivation", "DOMAIN_RTOL", "DIRECT_SECANT_ROUNDOFF", "sum_nonbatch", "per_sample_all", "as_like"]

#: Relative tolerance for membership of the closed domain of Psi.
DOMAIN_RTOL = 1e-6

#: :meth:`ProxActivation.secant_` takes the direct form where the round-off bound on a residual is at
#: most this fraction of the RMS of the step's direction: on a DFB-PNN trained for 3706 steps at
#: sigma 15 (float32, mirror step scale 0.01, the ratio 0.01-0.02) the clip's direct form gives the
#: weight gradient of the cancellation-free form to four digits of cosine (0.9999); ten times
#: smaller steps (ratio 0.1-0.2) gave 0.9996 against 0.99999, a hundred times smaller 0.93
#: (docs/results.md, "Mirror steps with the direct clip residual").
DIRECT_SECANT_ROUNDOFF = 0.05


def as_like(value, ref: torch.Tensor) -> torch.Tensor:
    """``value`` (number or tensor) as a tensor with the dtype and device of ``ref``.

    Differentiable in ``value`` when it is a tensor that requires grad.
    """
    return torch.as_tensor(value, dtype=ref.dtype, device=ref.device)


def sum_nonbatch(x: torch.Tensor) -> torch.Tensor:
    """Sum over every dim but dim 0: shape ``(B, ...) -> (B,)``."""
    if x.dim() <= 1:
        return x
    return x.flatten(1).sum(1)


def per_sample_all(mask: torch.Tensor) -> torch.Tensor:
    """``True`` for the samples whose mask is true everywhere: ``(B, ...) -> (B,)``."""
    if mask.dim() <= 1:
        return mask
    return mask.flatten(1).all(1)


def describe(value) -> str:
    """Short text for a float or 0-dim tensor parameter in a repr."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return repr(float(value.item()))
        return f"tensor(shape={tuple(value.shape)})"
    return repr(value)


class ProxActivation(nn.Module, ABC):
    r"""Base class: an activation :math:`\sigma = \mathrm{prox}_\Psi` of a convex :math:`\Psi`.

    ``forward(v) = sigma(v)``, so an instance can sit in ``nn.Sequential``.  Subclasses give
    :meth:`sigma`, :meth:`psi`, :meth:`phi_conj`, :meth:`prox_psi`, :meth:`project`,
    :meth:`derivative` and the elementwise closed form :meth:`_penalty_terms` of :math:`B`;
    domains other than the whole line override :meth:`in_domain` and :meth:`_clamp_closure`.
    """

    #: Lipschitz constant of sigma (every proximal map is firmly non-expansive).
    lipschitz = 1.0

    # ------------------------------------------------------------------ the map
    #: whether ``prox_psi`` / ``prox_phi`` are implemented (not for :class:`Softmax`, a last layer's)
    has_prox = True

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.sigma(v)

    @abstractmethod
    def sigma(self, v: torch.Tensor) -> torch.Tensor:
        r""":math:`\sigma(v) = \mathrm{prox}_\Psi(v)`."""

    @abstractmethod
    def derivative(self, v: torch.Tensor) -> torch.Tensor:
        r""":math:`\sigma'(v)` almost everywhere (for the non-Bregman MAC penalty)."""

    def vjp(self, v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        r"""Vector-Jacobian product :math:`\sigma'(v)^\top g` (elementwise here)."""
        return self.derivative(v) * g

    # ----------------------------------------------------------- the functions
    #: True when :math:`\Psi` is an indicator (0 on its domain): ReLU, clips, the identity.
    psi_is_indicator = False

    @abstractmethod
    def psi(self, y: torch.Tensor) -> torch.Tensor:
        r""":math:`\Psi(y)` elementwise, ``+inf`` outside the domain."""

    def psi_of_sigma(self, v: torch.Tensor, sigma_v: torch.Tensor | None = None) -> torch.Tensor | float:
        r""":math:`\Psi(\sigma(v))` elementwise (``0.0`` for an indicator :math:`\Psi`: :math:`\sigma`
        maps into its domain); ``sigma_v``: :math:`\sigma(v)` where the caller has it already."""
        if self.psi_is_indicator:
            return 0.0
        return self.psi(self.sigma(v) if sigma_v is None else sigma_v)

    def phi(self, y: torch.Tensor) -> torch.Tensor:
        r""":math:`\phi(y) = \tfrac12 y^2 + \Psi(y)` elementwise."""
        return 0.5 * y * y + self.psi(y)

    @abstractmethod
    def phi_conj(self, v: torch.Tensor) -> torch.Tensor:
        r""":math:`\phi^*(v)` elementwise; its gradient is :math:`\sigma(v)`."""

    # ------------------------------------------------------------------ domain
    def in_domain(self, y: torch.Tensor) -> torch.Tensor:
        """Boolean mask: ``y`` lies in the closed domain of Psi (up to the tolerance)."""
        return torch.ones_like(y, dtype=torch.bool)

    def _clamp_closure(self, y: torch.Tensor) -> torch.Tensor:
        """Clamp ``y`` onto the closed domain (used on points within the tolerance)."""
        return y

    @abstractmethod
    def project(self, y: torch.Tensor) -> torch.Tensor:
        r"""Projection onto :math:`\mathrm{dom}\,\Psi` (its closure, or an ``eps``-shrunk
        box for the open domains of sigmoid and tanh)."""

    def _where_domain(self, y: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        inf = torch.full_like(value, math.inf)
        return torch.where(self.in_domain(y), value, inf)

    # ----------------------------------------------------------------- penalty
    @abstractmethod
    def _penalty_terms(self, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Closed form of B before summation; ``y`` is already inside the closed domain."""

    def penalty(self, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        r"""Lifted Bregman penalty :math:`B(y, v) = \phi(y) + \phi^*(v) - \langle y, v\rangle`.

        Summed over all non-batch dims (shape ``(B,)``), evaluated in a stable closed form,
        clamped at ``>= 0`` against round-off, ``+inf`` for a sample whose ``y`` lies outside
        the closed domain of :math:`\Psi`.  Differentiable; ``d/dv = sigma(v) - y``.
        """
        y, v = torch.broadcast_tensors(y, v)
        ok = per_sample_all(self.in_domain(y))
        b = sum_nonbatch(self._penalty_terms(self._clamp_closure(y), v)).clamp_min(0.0)
        return torch.where(ok, b, torch.full_like(b, math.inf))

    def penalty_grad_v(self, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        r""":math:`\nabla_v B(y, v) = \sigma(v) - y` (elementwise; no :math:`\sigma'`)."""
        return self.sigma(v) - y

    def increment(self, v: torch.Tensor, d: torch.Tensor, sigma_v: torch.Tensor | None = None) -> torch.Tensor:
        r""":math:`\sigma(v) - \sigma(v - d)` (``sigma_v``: :math:`\sigma(v)` if known).

        Subclasses evaluate it without the cancellation of the difference where :math:`|d| \ll |v|`
        (the piecewise-linear ones exactly, as :math:`s\,d` on a piece of slope :math:`s`), so that
        :math:`\text{increment}/d` keeps float precision however small the step :math:`d`: the
        mirror step of the matched sweep divides it by its step.  Here: the plain difference."""
        return (self.sigma(v) if sigma_v is None else sigma_v) - self.sigma(v - d)

    def secant_(self, v: torch.Tensor, g: torch.Tensor, h: float, sigma_v: torch.Tensor | None = None) -> torch.Tensor:
        r"""The secant residual :math:`(\sigma(v) - \sigma(v - h g))/h` of a mirror step of length
        :math:`h > 0` along :math:`-g` (``sigma_v``: :math:`\sigma(v)` if known), with
        :meth:`increment`'s precision (or, where a subclass says so, a round-off it bounds against
        ``g``: :meth:`_direct_secant_`), written into the scratch ``g``'s memory where the
        activation can.  Here: ``increment(v, h g) / h``."""
        return self.increment(v, g.mul_(h), sigma_v).div_(h)

    #: :math:`B` of :meth:`_direct_secant_`'s round-off bound :math:`\epsilon B/h`, in units of the
    #: dtype's epsilon; ``None``: the activation has no direct form.
    secant_roundoff: float | None = None

    def _sigma_(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\sigma(x)` written into the scratch ``x``'s memory (for :meth:`_direct_secant_`)."""
        raise NotImplementedError

    def _direct_secant_(self, v: torch.Tensor, g: torch.Tensor, h: float, sigma_v: torch.Tensor | None):
        r"""The plain difference :math:`(\sigma(v) - \sigma(v - hg))/h` in ``g``'s memory (four passes:
        add, :math:`\sigma` in place, subtract, divide), where its round-off is small against ``g``,
        else ``None`` (the caller then takes its cancellation-free form).

        Rounding :math:`v - hg` and the two values of :math:`\sigma` costs at most
        :math:`\epsilon B` (:attr:`secant_roundoff`), so :math:`\epsilon B/h` on a residual: the
        direct form is taken where that is at most :data:`DIRECT_SECANT_ROUNDOFF` times the RMS of
        ``g``, estimated from about 4096 evenly spaced entries (a full reduction would cost a third
        of the passes it saves), and only on the CPU (on a GPU the test would synchronise)."""
        if g.device.type != "cpu" or self.secant_roundoff is None:
            return None
        flat = g.reshape(-1)
        sample = flat[:: max(1, flat.numel() // 4096)]
        rms = float(torch.linalg.vector_norm(sample)) / math.sqrt(sample.numel())
        if torch.finfo(g.dtype).eps * self.secant_roundoff > DIRECT_SECANT_ROUNDOFF * h * rms:
            return None
        s = self.sigma(v) if sigma_v is None else sigma_v
        x = self._sigma_(torch.add(v, g, alpha=-h, out=g))
        return torch.sub(s, x, out=g).div_(h)

    # -------------------------------------------------------------------- prox
    @abstractmethod
    def prox_psi(self, w: torch.Tensor, t=1.0) -> torch.Tensor:
        r""":math:`\mathrm{prox}_{t\Psi}(w)` for ``t >= 0`` (scalar or broadcastable tensor).

        For indicator parts of :math:`\Psi` the result is the projection for every ``t``,
        ``t = 0`` included (the limit :math:`t \to 0^+`).
        """

    def prox_psi_(self, w: torch.Tensor, t=1.0) -> torch.Tensor:
        r""":meth:`prox_psi` of a scratch ``w``, written into ``w``'s memory where the activation
        can (a clip or ReLU: one in-place pass, no allocation); returns the result, which may
        be ``w`` itself.  Here: :meth:`prox_psi`."""
        return self.prox_psi(w, t)

    def prox_psi_warm(self, w: torch.Tensor, t, v: torch.Tensor) -> torch.Tensor:
        r""":meth:`prox_psi_` where :math:`\sigma(v)` is a good guess of the answer (the lifted
        Bregman own-term prox at pre-activation ``v``: :math:`\sigma(v)` is its answer when the
        state is at the forward pass).  Activations whose prox is iterative start from the guess
        (fewer iterations, the same result to round-off); closed-form ones ignore it.  ``w`` is
        the caller's scratch buffer and may be overwritten."""
        return self.prox_psi_(w, t)

    def prox_phi(self, w: torch.Tensor, c=1.0) -> torch.Tensor:
        r""":math:`\mathrm{prox}_{c\phi}(w) = \arg\min_u c\,\phi(u) + \tfrac12\|u-w\|^2
        = \mathrm{prox}_{\frac{c}{1+c}\Psi}\big(\tfrac{w}{1+c}\big)`, ``c >= 0``."""
        check_nonneg("c", c)
        c = as_like(c, w)
        return self.prox_psi(w / (1.0 + c), c / (1.0 + c))

    # -------------------------------------------------------------------- repr
    def __repr__(self) -> str:  # nn.Module's repr with extra_repr, kept explicit
        return f"{type(self).__name__}({self.extra_repr()})"
