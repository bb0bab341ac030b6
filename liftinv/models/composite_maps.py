r"""Composite maps: several affine maps composed (:class:`ChainMap`), summed over one state
(:class:`SumMap`) or concatenated (:class:`CatMap`), as the torch.fx conversion builds them
(:mod:`liftinv.models.fx_convert`)."""

from __future__ import annotations

import torch
from torch import nn

from .linear_maps import LinearMap


class ChainMap(LinearMap):
    r"""The composition :math:`M_k \circ \dots \circ M_1` of affine maps (``maps`` in the order
    applied), biases included: ``forward`` applies every map's ``forward``, ``A`` the linear
    parts, ``A_adjoint`` the adjoints in reverse through the intermediate shapes.  Its bias is
    not a per-channel vector (a padded convolution of a constant is not constant), so
    ``forward`` is overridden and ``bias`` stays ``None``; the norm is a power iteration on
    the composition."""

    def __init__(self, maps) -> None:
        super().__init__()
        self.maps = nn.ModuleList(maps)

    def forward(self, x):
        for amap in self.maps:
            x = amap(x)
        return x

    def A(self, x):
        for amap in self.maps:
            x = amap.A(x)
        return x

    def _shapes(self, x_shape):
        shapes = [tuple(x_shape)]
        for amap in self.maps:
            shapes.append(tuple(amap.out_shape(shapes[-1])))
        return shapes

    def A_adjoint(self, r, x_shape):
        shapes = self._shapes(x_shape)
        for amap, shape in zip(reversed(self.maps), reversed(shapes[:-1])):
            r = amap.A_adjoint(r, shape)
        return r

    def out_shape(self, x_shape):
        return self._shapes(x_shape)[-1]


class SumMap(LinearMap):
    r""":math:`x \mapsto \sum_j M_j x`: several affine maps reading one state (``conv(x) + x``),
    biases included; adjoint the sum of the adjoints, norm by power iteration."""

    def __init__(self, maps) -> None:
        super().__init__()
        self.maps = nn.ModuleList(maps)

    def forward(self, x):
        return sum(amap(x) for amap in self.maps)

    def A(self, x):
        return sum(amap.A(x) for amap in self.maps)

    def A_adjoint(self, r, x_shape):
        return sum(amap.A_adjoint(r, x_shape) for amap in self.maps)

    def out_shape(self, x_shape):
        shapes = {tuple(amap.out_shape(x_shape)) for amap in self.maps}
        if len(shapes) != 1:
            raise ValueError(f"SumMap: the summed maps give different shapes {sorted(shapes)}")
        return shapes.pop()


class CatMap(LinearMap):
    r""":math:`x \mapsto [M_1 x; \dots; M_k x]`: several affine maps reading one state, their
    outputs concatenated along the per-sample dimension ``dim`` (0: channels), biases included
    (``torch.cat([conv(x), x], 1)``; a part that does not read the state is a
    :class:`~liftinv.models.linear_maps.ZeroMap`).  The adjoint splits :math:`r` into the parts'
    blocks and sums their adjoints, :math:`\sum_j M_j^\top r_j`; norm by power iteration
    (:math:`\|M\|^2 \le \sum_j \|M_j\|^2`)."""

    def __init__(self, maps, dim: int) -> None:
        super().__init__()
        if dim < 0:
            raise ValueError(f"CatMap: dim is a per-sample dimension (0: channels), got {dim}")
        self.maps, self.dim = nn.ModuleList(maps), int(dim)

    def forward(self, x):
        return torch.cat([amap(x) for amap in self.maps], self.dim + 1)

    def A(self, x):
        return torch.cat([amap.A(x) for amap in self.maps], self.dim + 1)

    def A_adjoint(self, r, x_shape):
        sizes = [amap.out_shape(x_shape)[self.dim] for amap in self.maps]
        parts = torch.split(r, sizes, self.dim + 1)
        return sum(amap.A_adjoint(part, x_shape) for amap, part in zip(self.maps, parts))

    def out_shape(self, x_shape):
        shapes = [tuple(amap.out_shape(x_shape)) for amap in self.maps]
        rest = {s[:self.dim] + s[self.dim + 1:] for s in shapes}
        if len(rest) != 1 or any(len(s) <= self.dim for s in shapes):
            raise ValueError(f"CatMap: the parts' shapes {shapes} differ outside dim {self.dim}")
        first = shapes[0]
        return first[:self.dim] + (sum(s[self.dim] for s in shapes),) + first[self.dim + 1:]

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
