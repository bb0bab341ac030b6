r"""Lifting penalties: what replaces the constraint :math:`x_l = \sigma_l(v_l)`.

Every penalty :math:`P(y, v)` is zero exactly when :math:`y = \sigma(v)` and is used
per hidden layer in the lifted objective

.. math::
    \mathcal E(\Theta, X) = \frac1s \sum_i \Big[\sum_{l<L} \lambda_l P_l(x_l^i, v_l^i)
    + B_{\sigma_L}(y^i, v_L^i)\Big],\qquad v_l = A_l x_{l-1} + b_l .

The last term is the ordinary loss (the lifted Bregman penalty of the last
activation: squared error for the identity, cross-entropy for softmax), so at a
forward-propagated point every penalty gives :math:`\mathcal E =` network loss.

A penalty answers three questions for the solvers (all batched over samples):

* ``value(act, y, v)``: :math:`P(y, v)` per sample, shape ``(B,)``;
* ``grad_v(act, y, v)``: :math:`\nabla_v P(y, v)` (drives the weight gradients and
  the auxiliary gradient through the next layer);
* ``prox_y(act, w, v, c)``: :math:`\arg\min_y c\,P(y, v) + \tfrac12\|y - w\|^2`, the
  exact proximal step on the layer's own term of an auxiliary block.

``curvature`` is the Lipschitz constant of :math:`v \mapsto \nabla_v P(y, v)` (for
activations that are 1-Lipschitz), used to set step sizes.
"""

from __future__ import annotations

import torch

from ..activations import ProxActivation, ReLU


def _per_sample(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)


class Penalty:
    """Interface of a lifting penalty (see the module docstring)."""

    name = "penalty"
    curvature = 1.0
    #: True when the gradient needs sigma' (not a Bregman-type penalty).
    needs_derivative = False

    def check(self, act: ProxActivation, layer: int) -> None:
        """Raise ``ValueError`` if this penalty cannot lift ``act``."""

    def value(self, act: ProxActivation, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def grad_v(self, act: ProxActivation, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def grad_v_known(self, act: ProxActivation, y: torch.Tensor, v: torch.Tensor,
                     sigma_v: torch.Tensor) -> torch.Tensor:
        r""":meth:`grad_v` where :math:`\sigma(v)` is already known (``sigma_v``, e.g. a forward
        pass's state); penalties whose gradient is a function of it skip re-evaluating it."""
        return self.grad_v(act, y, v)

    def scaled_residual_(self, act: ProxActivation, y: torch.Tensor, v: torch.Tensor,
                         sigma_v: torch.Tensor, scale: float) -> torch.Tensor:
        r""":meth:`grad_v_known` divided by ``scale``, written into the scratch ``y``'s memory where
        the penalty can (the matched sweep's residual when nothing reads the auxiliary after it)."""
        return self.grad_v_known(act, y, v, sigma_v).div_(scale)

    def pull(self, c: float) -> float:
        r"""The weight :math:`t` with which :meth:`prox_y` (weight ``c``) pulls towards the layer's
        own target: its argument is :math:`(1-t)w + t\,\cdot` (:math:`\kappa c/(1 + \kappa c)`,
        :math:`\kappa` the curvature)."""
        kc = self.curvature * c
        return kc / (1.0 + kc)

    def prox_y(self, act: ProxActivation, w: torch.Tensor, v: torch.Tensor, c: float) -> torch.Tensor:
        raise NotImplementedError

    #: True when :meth:`mirror_scale` applies (penalties of the Bregman family)
    has_mirror_step = False

    def mirror_scale(self, mu: float, c: float) -> float:
        raise NotImplementedError(f"{type(self).__name__} has no mirror step: it is not a Bregman penalty")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LiftedBregman(Penalty):
    r"""Lifted Bregman penalty :math:`B_\Psi(y, v) = \phi(y) + \phi^*(v) - \langle y, v\rangle`.

    :math:`\phi = \tfrac12\|\cdot\|^2 + \Psi` with :math:`\sigma = \mathrm{prox}_\Psi`.
    Convex in :math:`y` and in :math:`v`; :math:`\nabla_v B = \sigma(v) - y` needs no
    :math:`\sigma'`, and the own-term prox is
    :math:`\mathrm{prox}_{cB(\cdot, v)}(w) = \mathrm{prox}_{c\phi}(w + c v)`.
    """

    name = "bregman"

    def value(self, act, y, v):
        return act.penalty(y, v)

    def grad_v(self, act, y, v):
        return act.penalty_grad_v(y, v)

    def grad_v_known(self, act, y, v, sigma_v):
        return sigma_v - y

    def scaled_residual_(self, act, y, v, sigma_v, scale):
        return y.sub_(sigma_v).div_(-scale)  # (sigma_v - y) / scale, to the bit

    def prox_y(self, act, w, v, c):
        # prox_{c phi}(w + c v) = prox_{c/(1+c) Psi}((w + c v)/(1+c)); the average is one lerp; at
        # w = sigma(v) the answer is sigma(v), so iterative proxes start there
        t = c / (1.0 + c)
        return act.prox_psi_warm(w.lerp_(v, t), t, v)  # w is the caller's scratch buffer

    has_mirror_step = True

    def mirror_scale(self, mu, c):
        r"""The scale :math:`h = (1 - t)\mu` of the block's mirror step from the forward state
        :math:`\sigma(v)`: the step in the geometry of :math:`\phi` instead of the Euclidean one
        (a Bregman proximal gradient step),

        .. math::
            y^+ = \arg\min_y\ \mu\langle g, y\rangle + \kappa c\,B(y, v) + D_\phi(y, \sigma(v))
                = \sigma(v - h g),\qquad h = (1 - t)\mu,\quad t = \kappa c/(1 + \kappa c),

        because :math:`\nabla\phi(\sigma(v)) = v` and both terms are :math:`\phi` minus a linear
        function: the optimality condition reads :math:`(1 + \kappa c)(\nabla\phi(y) - v) + \mu g = 0`
        and :math:`(\nabla\phi)^{-1} = \sigma`.  One evaluation of :math:`\sigma`, whatever the
        activation (no prox of :math:`\Psi`, no Newton solve).  :math:`\phi` is 1-strongly convex,
        so a coupling term :math:`L`-smooth in :math:`y` is :math:`L`-smooth relative to
        :math:`\phi` and the step decreases the block's objective for :math:`\mu \le 1/L`
        (Bauschke, Bolte, Teboulle 2017)."""
        return (1.0 - self.pull(c)) * mu


class FenchelPenalty(LiftedBregman):
    r"""Fenchel lifted network penalty (Gu, Askari, El Ghaoui 2020), ReLU layers only.

    The biconvex relaxation of :math:`y = \max(v, 0)` used by the authors' code is
    :math:`F(y, v) = \|y\|^2 - 2\langle y, v\rangle + \|v_+\|^2` on :math:`y \ge 0`,
    which is exactly :math:`2\,B_{\mathrm{ReLU}}(y, v)`: lifted Bregman generalises it to
    any proximal activation.  It therefore shares the Bregman updates with twice
    the weight (``curvature`` 2).
    """

    name = "fenchel"
    curvature = 2.0

    def check(self, act, layer):
        if not isinstance(act, ReLU):
            raise ValueError(
                f"The Fenchel lifted penalty is defined for ReLU layers only; layer {layer} "
                f"uses {act!r}. Use penalty='bregman', which covers every proximal activation."
            )

    def value(self, act, y, v):
        return 2.0 * act.penalty(y, v)

    def grad_v(self, act, y, v):
        return 2.0 * act.penalty_grad_v(y, v)

    def grad_v_known(self, act, y, v, sigma_v):
        return 2.0 * (sigma_v - y)

    def scaled_residual_(self, act, y, v, sigma_v, scale):
        return y.sub_(sigma_v).mul_(-2.0).div_(scale)  # 2 (sigma_v - y) / scale, to the bit

    def prox_y(self, act, w, v, c):
        return super().prox_y(act, w, v, 2.0 * c)


class QuadraticPenalty(Penalty):
    r"""MAC quadratic penalty :math:`Q(y, v) = \tfrac12\|y - \sigma(v)\|^2`.

    Zero exactly on the constraint, but non-convex in :math:`v` and its gradient
    :math:`\nabla_v Q = \sigma'(v)\odot(\sigma(v) - y)` needs :math:`\sigma'`.  The own-term
    prox is :math:`(w + c\,\sigma(v))/(1 + c)`; ``curvature`` 1 is exact for
    piecewise-linear activations away from their kinks, a heuristic elsewhere.
    """

    name = "mac"
    needs_derivative = True

    def value(self, act, y, v):
        return 0.5 * _per_sample((y - act.sigma(v)) ** 2)

    def grad_v(self, act, y, v):
        return act.vjp(v, act.sigma(v) - y)

    def prox_y(self, act, w, v, c):
        return (w + c * act.sigma(v)) / (1.0 + c)


_PENALTIES = {
    "bregman": LiftedBregman,
    "lifted-bregman": LiftedBregman,
    "lb": LiftedBregman,
    "mac": QuadraticPenalty,
    "quadratic": QuadraticPenalty,
    "fenchel": FenchelPenalty,
}


def get_penalty(spec: str | Penalty) -> Penalty:
    """A penalty from its name (``'bregman'``, ``'mac'``, ``'fenchel'``) or an instance."""
    if isinstance(spec, Penalty):
        return spec
    key = str(spec).lower().replace("_", "-")
    if key not in _PENALTIES:
        raise ValueError(f"Unknown penalty {spec!r}; choose one of {sorted(set(_PENALTIES))}")
    return _PENALTIES[key]()
