r"""The base classes of the linear maps of a lifted layer, :math:`v = A_\theta x + b`
(:class:`LinearMap`; :class:`ParameterFreeMap` for the maps without parameters), and the helper
``_pair`` that reads torch's number-or-pair options.

Every layer of a lifted network reads one or more states through a map that is
linear in the state (affine with the bias).  The lifted solvers need three things
from such a map:

* ``A(x)``: the linear part :math:`A_\theta x`, and ``forward(x)``: :math:`A_\theta x + b`
  (differentiable in :math:`\theta`; named like deepinv's ``LinearPhysics`` so that nothing
  shadows ``nn.Module.apply``);
* ``A_adjoint(r, x_shape)``: :math:`A_\theta^\top r` (the bias does not enter);
* ``op_norm_sq()``: :math:`\|A_\theta\|_2^2`, the Lipschitz constant that sets the
  auxiliary step sizes, from a warm-started power iteration on :math:`A^\top A`.

The maps themselves live next to this module (:mod:`liftinv.models.linear_maps` lists them all).
"""

from __future__ import annotations

import torch
from torch import nn

from .power import power_iteration


class LinearMap(nn.Module):
    r"""Base class of :math:`x \mapsto A_\theta x + b`, batched over dim 0.

    Subclasses implement :meth:`A` (the linear part), :meth:`A_adjoint` and
    :meth:`out_shape`; ``forward`` adds the bias.
    """

    bias: torch.Tensor | None

    def __init__(self) -> None:
        super().__init__()
        self.bias = None

    # -- the map ---------------------------------------------------------------
    def A(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The linear part :math:`A_\\theta x` (no bias)."""
        raise NotImplementedError

    def A_adjoint(self, r: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:  # pragma: no cover
        """:math:`A_\\theta^\\top r`; ``x_shape`` is the per-sample shape of the input."""
        raise NotImplementedError

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:  # pragma: no cover
        """Per-sample output shape for a per-sample input shape."""
        raise NotImplementedError

    @property
    def explicit_grads(self) -> bool:
        """True when :meth:`param_grads` computes the parameter gradients without autograd: maps
        without parameters (nothing to differentiate) and those that implement it (``Dense``; a
        subclass of such a map that changes ``forward`` must override :meth:`param_grads` too)."""
        return next(self.parameters(), None) is None

    def param_grads(self, r: torch.Tensor, x: torch.Tensor) -> list[tuple[nn.Parameter, torch.Tensor]]:
        r"""``[(p, g)]``: :math:`g = \nabla_p\langle r, A_\theta x + b\rangle` (summed over the
        batch) for each parameter ``p`` of the map, computed directly (maps with
        ``explicit_grads``): the lifted trainers then build no autograd graph for the layer."""
        if next(self.parameters(), None) is None:
            return []
        raise NotImplementedError(f"{type(self).__name__} has no explicit parameter gradients")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.A(x)
        if self.bias is not None:
            v = v + self.bias.view((1, -1) + (1,) * (v.dim() - 2))
        return v

    # -- operator norm -----------------------------------------------------------
    def closed_norm_sq(self, x_shape: tuple[int, ...]) -> float | None:
        r""":math:`\|A\|_2^2` in closed form where the map has one (then ``op_norm_sq`` and
        ``exact_norm_sq`` return it); ``None`` here: a power iteration."""
        return None

    @torch.no_grad()
    def op_norm_sq(
        self, x_shape: tuple[int, ...], vec: torch.Tensor | None = None, n_iter: int = 1
    ) -> tuple[float, torch.Tensor | None]:
        r"""Estimate :math:`\|A_\theta\|_2^2` by power iteration on :math:`A^\top A`
        (:func:`~liftinv.models.power.power_iteration`).

        ``vec`` is the warm start (the vector returned by the previous call), so one
        iteration per call tracks a slowly changing :math:`\theta`; a cold start
        (``vec=None``, a fixed-seed random vector) runs at least 20.  Returns the
        estimate and the next warm start.  The Rayleigh quotient never exceeds the
        true value; solvers that take steps :math:`1/L` stay within the :math:`2/L`
        descent bound.
        """
        closed = self.closed_norm_sq(x_shape)
        if closed is not None:
            return closed, None
        like = next(self.parameters(), None)
        if like is None:
            like = next(self.buffers())  # parameter-free maps carry a dtype/device reference buffer
        est, vec = power_iteration(lambda v: self.A_adjoint(self.A(v), x_shape), vec, n_iter,
                                   shape=(1,) + tuple(x_shape), like=like, seed=0, cold_iters=20)
        return float(est), vec

    def exact_norm_sq(self, x_shape: tuple[int, ...]) -> float:
        r""":math:`\|A\|_2^2` to high accuracy (many cold power iterations); for tests."""
        return self.op_norm_sq(x_shape, n_iter=500)[0]

    def norm_batch_key(self, vec: torch.Tensor | None):
        """A key shared by the maps whose warm power iterations
        :func:`~liftinv.models.dense_map.op_norms_sq` can batch with this one's from the warm start
        ``vec``; ``None`` (the default, and always without a fitting warm start): this map iterates
        alone (:meth:`op_norm_sq`)."""
        return None


class ParameterFreeMap(LinearMap):
    """Base of the maps without parameters (pooling, upsampling, reshapes, scalings): a
    non-persistent 0-dim buffer follows ``.to()``/``.double()`` and gives the power
    iteration its dtype and device."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("_like", torch.zeros(()), persistent=False)

    @staticmethod
    def _meta_shape(fn, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape of ``fn`` on a shape-only (meta) input."""
        return tuple(fn(torch.empty((1,) + tuple(x_shape), device="meta")).shape[1:])


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, (int, float)) else tuple(int(v) for v in value)
