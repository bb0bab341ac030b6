r"""Softmax along dim 1, a vector-valued proximal activation for the last layer.

Also :func:`project_simplex`, the sort-based Euclidean projection onto the probability simplex.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import DOMAIN_RTOL, ProxActivation

__all__ = ["Softmax", "project_simplex"]

_LAST_LAYER_ONLY = (
    "Softmax is supported as a last-layer activation only (its penalty is the cross-entropy); "
    "the prox of its simplex-constrained negentropy is not implemented, so it cannot be used "
    "for hidden layers whose auxiliary variables are updated by a prox step"
)


def project_simplex(y: torch.Tensor, dim: int = 1) -> torch.Tensor:
    r"""Euclidean projection of every slice along ``dim`` onto :math:`\{x \ge 0, \sum x = 1\}`.

    Sort-based (Held-Wolfe-Crowder / Duchi et al. 2008), applied to :math:`y - \max_j y_j`:
    with :math:`u` sorted decreasingly,
    :math:`\rho = \max\{j : u_j - (\sum_{i\le j} u_i - 1)/j > 0\}`,
    :math:`\theta = (\sum_{i\le\rho} u_i - 1)/\rho` and :math:`x = \max(y - \theta, 0)`.
    """
    x = y.movedim(dim, -1)
    # the projection is invariant to adding a constant; shifting by the max keeps the
    # arithmetic on O(1) numbers (the support's entries differ from the max by < 1)
    x = x - x.amax(-1, keepdim=True).detach()
    n = x.shape[-1]
    u, _ = torch.sort(x, dim=-1, descending=True)
    css = u.cumsum(-1) - 1.0
    j = torch.arange(1, n + 1, dtype=y.dtype, device=y.device)
    cond = (u - css / j) > 0
    rho = cond.sum(-1, keepdim=True).clamp_min(1)  # cond holds on a prefix; >= 1 always
    theta = css.gather(-1, rho - 1) / rho.to(y.dtype)
    return (x - theta).clamp_min(0.0).movedim(-1, dim)


class Softmax(ProxActivation):
    r"""Softmax along dim 1: :math:`\sigma(v)_j = e^{v_j} / \sum_k e^{v_k}`.

    The prox of :math:`\Psi = \sum_j y_j\log y_j - \tfrac12\|y\|^2 + \iota_\Delta` (negentropy
    minus half the squared norm on the simplex :math:`\Delta`, convex because
    :math:`\mathrm{diag}(1/y) \succeq I` on :math:`\Delta`).

    * :math:`\phi(y) = \sum_j y_j\log y_j + \iota_\Delta(y)`,
      :math:`\phi^*(v) = \mathrm{logsumexp}(v)`, :math:`\nabla\phi^* = \mathrm{softmax}`.
    * :math:`B(y, v) = \mathrm{CE}(v; y) - H(y) = \mathrm{KL}(y\,\|\,\mathrm{softmax}(v))
      = \sum_j [\,y_j\log y_j - y_j\,\mathrm{log\_softmax}(v)_j]`; for one-hot :math:`y` it is
      ``F.cross_entropy(v, labels, reduction='none')`` (summed over any spatial dims).
    * ``psi``, ``phi`` and ``phi_conj`` return per-sample values with dim 1 reduced
      (``keepdim=True``); ``penalty`` sums everything to shape ``(B,)``.
    * ``project`` is the Euclidean projection onto the simplex along dim 1.
    * ``prox_psi`` / ``prox_phi`` raise ``NotImplementedError`` (last layer only);
      ``derivative`` too, as the Jacobian :math:`\mathrm{diag}(s) - ss^\top` is not elementwise:
      use :meth:`vjp`.
    """

    dim = 1
    #: no prox of Psi or of c*phi here: a hidden softmax layer needs steps that do not take one
    has_prox = False

    def extra_repr(self) -> str:
        return "dim=1"

    def sigma(self, v):
        return torch.softmax(v, dim=1)

    def derivative(self, v):
        raise NotImplementedError(
            "The softmax Jacobian diag(s) - s s^T is not elementwise; use Softmax.vjp(v, g)"
        )

    def vjp(self, v, g):
        r""":math:`J^\top g = s \odot (g - \langle s, g\rangle)` along dim 1."""
        s = torch.softmax(v, dim=1)
        return s * (g - (s * g).sum(1, keepdim=True))

    def in_domain(self, y):
        n = y.shape[1]
        tol_sum = max(DOMAIN_RTOL, 4.0 * n * torch.finfo(y.dtype).eps)
        nonneg = (y >= -DOMAIN_RTOL).all(1, keepdim=True)
        return nonneg & ((y.sum(1, keepdim=True) - 1.0).abs() <= tol_sum)

    def _clamp_closure(self, y):
        return y.clamp_min(0.0)

    def _negentropy(self, y):
        yc = y.clamp_min(0.0)
        return torch.xlogy(yc, yc).sum(1, keepdim=True)

    def phi(self, y):
        return self._where_domain(y, self._negentropy(y))

    def psi(self, y):
        yc = y.clamp_min(0.0)
        return self.phi(y) - 0.5 * (yc * yc).sum(1, keepdim=True)

    def phi_conj(self, v):
        return torch.logsumexp(v, dim=1, keepdim=True)

    def project(self, y):
        return project_simplex(y, dim=1)

    def _penalty_terms(self, y, v):
        return torch.xlogy(y, y) - y * F.log_softmax(v, dim=1)

    def prox_psi(self, w, t=1.0):
        raise NotImplementedError(_LAST_LAYER_ONLY)

    def prox_phi(self, w, c=1.0):
        raise NotImplementedError(_LAST_LAYER_ONLY)
