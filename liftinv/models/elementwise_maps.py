r"""The diagonal (elementwise) affine maps: multiplication by a number (:class:`Scale`), the
per-channel affine map of a BatchNorm (:class:`ChannelAffine`) and the elementwise affine map
with constant tensors (:class:`ElementwiseAffine`)."""

from __future__ import annotations

import torch
from torch import nn

from .linear_map import LinearMap, ParameterFreeMap


class Scale(ParameterFreeMap):
    """Multiplication by a fixed number ``c`` (``c * x``, ``-x``, ``x / d``); norm ``c**2``."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = float(c)

    def A(self, x):
        return self.c * x

    def A_adjoint(self, r, x_shape):
        return self.c * r

    def out_shape(self, x_shape):
        return tuple(x_shape)

    def closed_norm_sq(self, x_shape):
        return self.c * self.c

    def extra_repr(self) -> str:
        return f"c={self.c:g}"


class ChannelAffine(LinearMap):
    r"""Per-channel affine map :math:`v_c = s_c x_c + t_c` along dim 1 (an eval-mode BatchNorm
    that cannot be folded into a preceding map); diagonal, norm :math:`\max_c s_c^2`."""

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(scale.detach().clone().flatten())
        self.bias = nn.Parameter(shift.detach().clone().flatten()) if shift is not None else None

    def _s(self, ref):
        return self.weight.view((1, -1) + (1,) * (ref.dim() - 2))

    def A(self, x):
        return x * self._s(x)

    def A_adjoint(self, r, x_shape):
        return r * self._s(r)

    def out_shape(self, x_shape):
        if len(x_shape) < 1 or x_shape[0] != self.weight.numel():
            raise ValueError(f"ChannelAffine has {self.weight.numel()} channels, got shape {tuple(x_shape)}")
        return tuple(x_shape)

    def closed_norm_sq(self, x_shape):
        return float(self.weight.detach().abs().max() ** 2)

    def extra_repr(self) -> str:
        return f"channels={self.weight.numel()}, bias={self.bias is not None}"


class ElementwiseAffine(ParameterFreeMap):
    r"""Elementwise affine map with constant tensors, :math:`v = s \odot x + t`: an input
    normalisation ``(x - mean) / std``, ``x * scale + shift``, ``x + 1`` (the torch.fx conversion
    builds it from constants: buffers, tensor constants, parameters read as constants).

    ``scale`` and ``shift`` (``None``: 1 and 0) broadcast against one sample without enlarging it,
    e.g. shape ``(C, 1, 1)`` per channel, ``(C, H, W)`` per element, or ``()``.  They are buffers
    (constants that follow ``.to()``, not trained); ``bias`` stays ``None`` and ``forward`` adds
    ``shift``, which need not be per-channel.  Diagonal, so self-adjoint; norm
    :math:`\max_i s_i^2` (1 without a scale).
    """

    def __init__(self, scale: torch.Tensor | float | None = None, shift: torch.Tensor | float | None = None) -> None:
        super().__init__()
        for name, value in (("scale", scale), ("shift", shift)):
            if value is not None:
                value = torch.as_tensor(value).detach().clone()
                if not value.is_floating_point():
                    value = value.to(torch.get_default_dtype())
            self.register_buffer(name, value)

    def A(self, x):
        return x if self.scale is None else x * self.scale

    def forward(self, x):
        v = self.A(x)
        return v if self.shift is None else v + self.shift

    def A_adjoint(self, r, x_shape):
        return r if self.scale is None else r * self.scale

    def out_shape(self, x_shape):
        for name in ("scale", "shift"):
            c = getattr(self, name)
            if c is not None and (c.dim() > len(x_shape) or any(a not in (1, b) for a, b in
                                                                 zip(reversed(c.shape), reversed(x_shape)))):
                raise ValueError(f"ElementwiseAffine: the {name} of shape {tuple(c.shape)} does not broadcast to "
                                 f"samples of shape {tuple(x_shape)}")
        return tuple(x_shape)

    def closed_norm_sq(self, x_shape):
        return 1.0 if self.scale is None else float(self.scale.detach().abs().max()) ** 2

    def extra_repr(self) -> str:
        shapes = (f"{name}={tuple(c.shape)}" for name in ("scale", "shift") if (c := getattr(self, name)) is not None)
        return ", ".join(shapes)
