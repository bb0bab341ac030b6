r"""The parameter-free resampling maps: average pooling (:class:`AvgPool2d`,
:class:`AdaptiveAvgPool2d`) and upsampling (:class:`Upsample`), each with torch's own backward
kernel as its exact adjoint."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .linear_map import ParameterFreeMap, _pair


def _spatial(name: str, x_shape: tuple[int, ...]) -> None:
    if len(x_shape) != 3:
        raise ValueError(f"{name} expects a per-sample shape (C, H, W), got {tuple(x_shape)}")



class AvgPool2d(ParameterFreeMap):
    r"""Average pooling (``nn.AvgPool2d``, all its options: ``count_include_pad``, ``ceil_mode``,
    ``divisor_override``), a linear map; its adjoint is torch's own pooling backward kernel
    (``avg_pool2d_backward``: the transpose, since the map is linear), no autograd."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.padding = _pair(kernel_size), _pair(padding)
        self.stride = self.kernel_size if stride is None or stride == [] else _pair(stride)
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
        self.divisor_override = divisor_override

    @classmethod
    def from_torch(cls, module: nn.AvgPool2d) -> AvgPool2d:
        return cls(module.kernel_size, module.stride, module.padding, module.ceil_mode,
                   module.count_include_pad, module.divisor_override)

    def _args(self):
        return (self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                self.divisor_override)

    def A(self, x):
        return F.avg_pool2d(x, *self._args())

    def A_adjoint(self, r, x_shape):
        like = r.new_empty((r.shape[0],) + tuple(x_shape))
        return torch.ops.aten.avg_pool2d_backward(r, like, *self._args())

    def out_shape(self, x_shape):
        _spatial("AvgPool2d", x_shape)
        return self._meta_shape(self.A, x_shape)

    def extra_repr(self) -> str:
        return (f"kernel={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"count_include_pad={self.count_include_pad}")


class AdaptiveAvgPool2d(ParameterFreeMap):
    """Adaptive average pooling (``nn.AdaptiveAvgPool2d``, e.g. global pooling to 1x1); adjoint
    by torch's backward kernel."""

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def A(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def A_adjoint(self, r, x_shape):
        like = r.new_empty((r.shape[0],) + tuple(x_shape))
        return torch.ops.aten._adaptive_avg_pool2d_backward(r.contiguous(), like)

    def out_shape(self, x_shape):
        _spatial("AdaptiveAvgPool2d", x_shape)
        return self._meta_shape(self.A, x_shape)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Upsample(ParameterFreeMap):
    r"""Upsampling (``nn.Upsample`` / ``F.interpolate``) by ``'nearest'`` or ``'bilinear'``
    interpolation, with ``scale_factor`` or ``size`` and ``align_corners`` as torch; linear, with
    torch's own upsampling backward kernel as the exact adjoint (no autograd)."""

    MODES = ("nearest", "bilinear")

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"Upsample: mode {mode!r} is not supported (only {self.MODES})")
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor")
        if mode == "nearest" and align_corners:
            raise ValueError("Upsample: align_corners only applies to mode='bilinear'")
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners = bool(align_corners) if mode == "bilinear" else None
        self.recompute_scale_factor = recompute_scale_factor

    @classmethod
    def from_torch(cls, module: nn.Upsample) -> Upsample:
        return cls(module.size, module.scale_factor, module.mode, module.align_corners,
                   getattr(module, "recompute_scale_factor", None))

    def A(self, x):
        return F.interpolate(x, size=self.size, scale_factor=self.scale_factor, mode=self.mode,
                             align_corners=self.align_corners, recompute_scale_factor=self.recompute_scale_factor)

    def _scales(self):
        """The scales torch's kernels receive: the given factors, or None where the output size decides."""
        if self.scale_factor is None or self.recompute_scale_factor:
            return None, None
        f = self.scale_factor
        return tuple(float(v) for v in f) if isinstance(f, (tuple, list)) else (float(f), float(f))

    def A_adjoint(self, r, x_shape):
        out_size, in_size = list(r.shape[-2:]), [r.shape[0], *x_shape]
        sh, sw = self._scales()
        r = r.contiguous()
        if self.mode == "nearest":
            return torch.ops.aten.upsample_nearest2d_backward(r, out_size, in_size, sh, sw)
        return torch.ops.aten.upsample_bilinear2d_backward(r, out_size, in_size, self.align_corners, sh, sw)

    def out_shape(self, x_shape):
        _spatial("Upsample", x_shape)
        return self._meta_shape(self.A, x_shape)

    def extra_repr(self) -> str:
        which = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        corners = f", align_corners={self.align_corners}" if self.mode == "bilinear" else ""
        return f"{which}, mode={self.mode!r}{corners}"
