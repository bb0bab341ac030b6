r"""Regularisers :math:`J(x)` of the inverted input, each with its proximal map.

All act per sample on tensors shaped ``(B, ...)`` (images ``(B, C, H, W)`` for TV) and
return per-sample values of shape ``(B,)``.  ``prox(w, t)`` is
:math:`\mathrm{prox}_{tJ}(w) = \arg\min_x tJ(x) + \tfrac12\|x - w\|^2`, with ``t`` a
number or a per-sample tensor of shape ``(B,)``.

* ``tv``: isotropic total variation :math:`\sum_{p}\sqrt{(\nabla_1x)_p^2 + (\nabla_2x)_p^2}`
  with forward differences and Neumann boundary (the last difference is 0), per
  channel.  Its prox has no closed form; it is computed by FISTA on the dual
  (Chambolle 2004, Beck-Teboulle 2009): with :math:`\mathrm{div} = -\nabla^\top`,
  :math:`\mathrm{prox}_{tTV}(w) = w + t\,\mathrm{div}\,p^\star`,
  :math:`p^\star = \arg\min_{|p_{\cdot}|\le1}\tfrac12\|w + t\,\mathrm{div}\,p\|^2`, a projected
  gradient step being :math:`p \leftarrow \Pi(p + \nabla(w + t\,\mathrm{div}\,p)/(8t))`
  (:math:`\|\nabla\|^2\le8`).  The dual is warm-started from the previous call, so a
  few iterations per outer step suffice inside an iterative solver.
* ``tikhonov``: :math:`\tfrac12\|x\|^2`, prox :math:`w/(1+t)` (deepinv's ``Tikhonov`` prior).
* ``box``: the indicator of :math:`[0,1]^n`, prox = clamp.
* ``none``: :math:`J = 0` (deepinv's ``ZeroPrior``).

The finite differences (:func:`grad2d`, :func:`div2d`) come from :mod:`liftinv.utils.tv`, the
toolbox's one TV implementation; the TV prox stays ours (deepinv's ``TVDenoiser`` runs
Chambolle-Pock to a tolerance from a fixed start, whereas the inversion solvers need a few
warm-started dual FISTA steps with a per-sample ``t``).

``smooth_value(x, eps)`` is a differentiable surrogate used by the gradient baseline
(TV as :math:`\sum\sqrt{|\nabla x|^2 + \epsilon^2} - \epsilon`; the box as 0, handled
there by projection).
"""

from __future__ import annotations

import torch

from ..utils.tv import div2d, grad2d, project_unit_ball, tv_norm

__all__ = ["Regulariser", "TV", "Tikhonov", "Box", "NoRegulariser", "get_regulariser",
           "REGULARISERS"]


def _per_sample(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)


def _bcast(t, ref: torch.Tensor):
    """A number, or a ``(B,)`` tensor reshaped to broadcast against ``ref``."""
    if isinstance(t, torch.Tensor) and t.dim() > 0:
        return t.to(ref).view((-1,) + (1,) * (ref.dim() - 1))
    return float(t)


class Regulariser:
    """Interface: ``value``, ``prox``, ``smooth_value``, ``reset`` (see the module docstring)."""

    name = "none"
    #: True when ``prox`` is exact (closed form).
    exact_prox = True
    #: True for a constraint (the indicator of a set): its prox is a projection, applied whatever
    #: the weight alpha (0 included), and alpha times its value is 0 on the set.
    indicator = False

    def active(self, alpha: float) -> bool:
        """Whether the solvers apply this regulariser at weight ``alpha``."""
        return alpha > 0 or self.indicator

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0])

    def prox(self, w: torch.Tensor, t) -> torch.Tensor:
        return w

    def smooth_value(self, x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
        return self.value(x)

    def reset(self) -> None:
        """Forget any warm start."""

    def warm_state(self) -> torch.Tensor | None:
        """The warm start of the next :meth:`prox` call: ``None`` (a closed-form prox) or a tensor
        whose first dimension is the batch (a solver that holds some samples back restores their rows)."""
        return None

    def load_warm_state(self, state: torch.Tensor | None) -> None:
        """Make ``state`` (from :meth:`warm_state`) the warm start of the next
        :meth:`prox` call."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NoRegulariser(Regulariser):
    """:math:`J = 0`, deepinv's ``ZeroPrior``."""

    def __init__(self) -> None:
        from deepinv.optim import ZeroPrior

        self.prior = ZeroPrior()

    def value(self, x):
        return self.prior.fn(x).to(x.dtype)

    def prox(self, w, t):
        return self.prior.prox(w)


class Tikhonov(Regulariser):
    r""":math:`J(x) = \tfrac12\|x\|^2`, :math:`\mathrm{prox}_{tJ}(w) = w/(1+t)`: deepinv's
    ``Tikhonov`` prior (``t`` may be per sample)."""

    name = "tikhonov"

    def __init__(self) -> None:
        from deepinv.optim import Tikhonov as DeepinvTikhonov

        self.prior = DeepinvTikhonov()

    def value(self, x):
        return self.prior.fn(x)

    def prox(self, w, t):
        return self.prior.prox(w, gamma=_bcast(t, w))


class Box(Regulariser):
    r"""Indicator of :math:`[0, 1]^n` (0 inside, :math:`+\infty` outside); prox = clamp."""

    name = "box"
    indicator = True

    def value(self, x):
        inside = ((x >= -1e-6) & (x <= 1 + 1e-6)).flatten(1).all(1)
        return torch.where(inside, x.new_zeros(x.shape[0]), x.new_full((x.shape[0],), float("inf")))

    def prox(self, w, t):
        return w.clamp(0.0, 1.0)

    def smooth_value(self, x, eps=1e-3):
        return x.new_zeros(x.shape[0])


class TV(Regulariser):
    r"""Isotropic total variation of ``(B, C, H, W)`` images, prox by warm-started dual FISTA.

    ``iters``: dual iterations per :meth:`prox` call (warm-started; use more, e.g.
    200, for a one-off accurate prox).
    """

    name = "tv"
    exact_prox = False

    def __init__(self, iters: int = 10) -> None:
        if iters < 1:
            raise ValueError(f"TV: iters must be >= 1, got {iters}")
        self.iters = int(iters)
        self._dual: torch.Tensor | None = None

    @staticmethod
    def _check(x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[-1] < 2 or x.shape[-2] < 2:
            raise ValueError(
                f"TV needs images shaped (B, C, H, W) with H, W >= 2, got {tuple(x.shape)}; for a "
                "network on flat vectors use regulariser='tikhonov', 'box' or 'none' (or, if its input is an "
                "image, start it with nn.Flatten() and convert it with an image-shaped in_shape, e.g. (1, 8, 8))"
            )

    def value(self, x):
        self._check(x)
        return tv_norm(x)

    def smooth_value(self, x, eps=1e-3):
        self._check(x)
        g = grad2d(x)
        return _per_sample(torch.sqrt((g * g).sum(2) + eps * eps) - eps)

    def reset(self) -> None:
        self._dual = None

    def warm_state(self):
        return self._dual

    def load_warm_state(self, state) -> None:
        self._dual = state

    @torch.no_grad()
    def prox(self, w, t, iters: int | None = None):
        self._check(w)
        t = _bcast(t, w)
        if not isinstance(t, torch.Tensor) and t <= 0:
            return w.clone()
        p = self._dual
        if p is None or p.shape[:2] + p.shape[3:] != w.shape:
            p = w.new_zeros(w.shape[:2] + (2,) + w.shape[2:])
        tt = t if isinstance(t, torch.Tensor) else torch.tensor(t, dtype=w.dtype, device=w.device)
        tt = tt.clamp_min(1e-12)
        t5 = tt.unsqueeze(2) if tt.dim() > 0 else tt
        q, s = p, 1.0  # FISTA on the dual
        for _ in range(iters or self.iters):
            x = w + tt * div2d(q)
            p_new = project_unit_ball(q + grad2d(x) / (8.0 * t5))
            s_new = 0.5 * (1.0 + (1.0 + 4.0 * s * s) ** 0.5)
            q = p_new + ((s - 1.0) / s_new) * (p_new - p)
            p, s = p_new, s_new
        self._dual = p
        return w + tt * div2d(p)

    def __repr__(self) -> str:
        return f"TV(iters={self.iters})"


REGULARISERS = {"tv": TV, "tikhonov": Tikhonov, "box": Box, "none": NoRegulariser}


def get_regulariser(spec: str | Regulariser | None, **kwargs) -> Regulariser:
    """A fresh regulariser from a name in :data:`REGULARISERS` (or an instance, returned as is)."""
    if isinstance(spec, Regulariser):
        return spec
    key = "none" if spec is None else str(spec).lower()
    if key not in REGULARISERS:
        raise ValueError(f"unknown regulariser {spec!r}; choose one of {sorted(REGULARISERS)}")
    return REGULARISERS[key](**kwargs) if key == "tv" else REGULARISERS[key]()
