r"""Composite maps: several affine maps composed (:class:`ChainMap`) or summed over one state
(:class:`SumMap`), as the torch.fx conversion builds them (:mod:`liftinv.models.fx_convert`)."""

from __future__ import annotations

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
