r"""The parameter-free maps that pass values on unchanged or drop them: the identity
(:class:`IdentityMap`), a reshape of every sample (:class:`Reshape`) and the zero map onto a
shape (:class:`ZeroMap`)."""

from __future__ import annotations

import math

import torch

from .linear_map import ParameterFreeMap


class IdentityMap(ParameterFreeMap):
    """The identity :math:`v = x` (a residual skip); no parameters, norm 1 (its reference buffer
    serves a sum of identities, e.g. ``h + h``, whose norm is a power iteration)."""

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def A_adjoint(self, r: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:
        return r

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(x_shape)

    def closed_norm_sq(self, x_shape):
        return 1.0


class _ToShape(ParameterFreeMap):
    """A parameter-free map onto samples of a fixed ``shape``."""

    def __init__(self, shape) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Reshape(_ToShape):
    """A pure reshape of every sample to ``shape`` (``nn.Unflatten``, ``view``, ``reshape``,
    ``flatten``); the adjoint reshapes back.  Norm 1."""

    def A(self, x):
        return x.reshape((x.shape[0],) + self.shape)

    def A_adjoint(self, r, x_shape):
        return r.reshape((r.shape[0],) + tuple(x_shape))

    def out_shape(self, x_shape):
        if math.prod(x_shape) != math.prod(self.shape):
            raise ValueError(f"Reshape: a sample of shape {tuple(x_shape)} cannot be viewed as {self.shape}")
        return self.shape

    def closed_norm_sq(self, x_shape):
        return 1.0


class ZeroMap(_ToShape):
    """The zero map onto ``shape``: the main map of a layer that reads only earlier states
    (the converter's parallel branches); norm 0."""

    def A(self, x):
        return x.new_zeros((x.shape[0],) + self.shape)

    def A_adjoint(self, r, x_shape):
        return r.new_zeros((r.shape[0],) + tuple(x_shape))

    def out_shape(self, x_shape):
        return self.shape

    def closed_norm_sq(self, x_shape):
        return 0.0
