r"""The 2-D convolutions of a lifted layer: :class:`Conv2d` (its adjoint the transposed
convolution) and :class:`ConvTranspose2d` (its adjoint the strided convolution), with the
shared state of both and the copy of a torch module's weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.checks import check_number
from .linear_map import LinearMap, _pair


def _copy_module_weights(amap: LinearMap, module: nn.Module) -> LinearMap:
    """Copy ``module``'s ``weight`` (and ``bias``) into ``amap``; on the module's device and dtype."""
    with torch.no_grad():
        amap.weight.copy_(module.weight)
        if module.bias is not None:
            amap.bias.copy_(module.bias)
    return amap.to(module.weight)


class _ConvBase(LinearMap):
    """Shared state of the 2-D (transposed) convolutions: weight, bias and the pairs of options."""

    def _setup(self, ref: nn.Module, in_channels, out_channels, kernel_size, stride, padding, dilation, groups):
        self.weight = nn.Parameter(ref.weight.detach().clone())
        self.bias = nn.Parameter(ref.bias.detach().clone()) if ref.bias is not None else None
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, int(groups)
        self._k, self._s, self._p, self._d = _pair(kernel_size), _pair(stride), _pair(padding), _pair(dilation)

    def _check_channels(self, x_shape) -> None:
        name = type(self).__name__
        if len(x_shape) != 3 or x_shape[0] != self.in_channels:
            raise ValueError(f"{name} expects per-sample shape ({self.in_channels}, H, W), got {tuple(x_shape)}")

    def _options(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in (("dilation", self.dilation), ("groups", self.groups))
                        if v not in (1, (1, 1)))
        return f"stride={self.stride}, padding={self.padding}{extra}, bias={self.bias is not None}"


class Conv2d(_ConvBase):
    r"""2-D convolution :math:`v = w * x + b` with its adjoint, the transposed convolution.

    ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are numbers or ``(h, w)`` pairs;
    ``padding`` defaults to ``kernel_size // 2`` (a "same" convolution for odd kernels and
    stride 1); ``groups`` as in ``nn.Conv2d``.  The adjoint is ``conv_transpose2d`` with the
    output padding that restores the input size, so strided maps are exact adjoints too.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
    ) -> None:
        super().__init__()
        for value, name, least in ((kernel_size, "kernel_size", 1), (stride, "stride", 1), (dilation, "dilation", 1),
                                   (padding, "padding", 0)):
            for v in ((value,) if isinstance(value, int) or value is None else value):
                if v is not None:
                    check_number(v, f"Conv2d {name}", minimum=least, integer=True)
        ref = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, bias=bias, dilation=dilation,
                        groups=groups)
        if padding is None:
            padding = kernel_size // 2 if isinstance(kernel_size, int) else tuple(k // 2 for k in kernel_size)
        self._setup(ref, in_channels, out_channels, kernel_size, stride, padding, dilation, groups)

    @classmethod
    def from_torch(cls, module: nn.Conv2d) -> Conv2d:
        """The map of an ``nn.Conv2d`` with integer padding and ``padding_mode='zeros'`` (weights copied)."""
        amap = cls(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
                   padding=module.padding, bias=module.bias is not None, dilation=module.dilation,
                   groups=module.groups)
        return _copy_module_weights(amap, module)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, stride=self._s, padding=self._p, dilation=self._d, groups=self.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # A x + b with the bias inside the convolution
        return F.conv2d(x, self.weight, self.bias, stride=self._s, padding=self._p, dilation=self._d,
                        groups=self.groups)

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        self._check_channels(x_shape)
        h, w = ((s + 2 * p - d * (k - 1) - 1) // st + 1
                for s, k, st, p, d in zip(x_shape[1:], self._k, self._s, self._p, self._d))
        if h <= 0 or w <= 0:
            raise ValueError(f"Conv2d: input {tuple(x_shape)} is smaller than the kernel")
        return (self.out_channels, h, w)

    def A_adjoint(self, r: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:
        pads = tuple(size - ((o - 1) * st - 2 * p + d * (k - 1) + 1)
                     for size, o, k, st, p, d in zip(x_shape[1:], r.shape[-2:], self._k, self._s, self._p, self._d))
        return F.conv_transpose2d(r, self.weight, stride=self._s, padding=self._p, output_padding=pads,
                                  groups=self.groups, dilation=self._d)

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, kernel={self.kernel_size}, {self._options()}"


class ConvTranspose2d(_ConvBase):
    r"""Transposed 2-D convolution (``nn.ConvTranspose2d``), :math:`v = w \star^\top x + b`.

    Options as in torch (``stride``, ``padding``, ``output_padding``, ``groups``, ``dilation``,
    numbers or pairs); the weight has torch's layout ``(in, out // groups, kh, kw)``.  The
    adjoint is the strided convolution ``conv2d`` with the same weight, cut to the input size.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
    ) -> None:
        super().__init__()
        ref = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                 output_padding=output_padding, groups=groups, bias=bias, dilation=dilation)
        self._setup(ref, in_channels, out_channels, kernel_size, stride, padding, dilation, groups)
        self.output_padding, self._op = output_padding, _pair(output_padding)

    @classmethod
    def from_torch(cls, module: nn.ConvTranspose2d) -> ConvTranspose2d:
        """The map of an ``nn.ConvTranspose2d`` with ``padding_mode='zeros'`` (weights copied)."""
        amap = cls(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
                   padding=module.padding, output_padding=module.output_padding, groups=module.groups,
                   bias=module.bias is not None, dilation=module.dilation)
        return _copy_module_weights(amap, module)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight, stride=self._s, padding=self._p, output_padding=self._op,
                                  groups=self.groups, dilation=self._d)

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        self._check_channels(x_shape)
        h, w = ((s - 1) * st - 2 * p + d * (k - 1) + op + 1
                for s, k, st, p, d, op in zip(x_shape[1:], self._k, self._s, self._p, self._d, self._op))
        if h <= 0 or w <= 0:
            raise ValueError(f"ConvTranspose2d: input {tuple(x_shape)} gives an empty output")
        return (self.out_channels, h, w)

    def A_adjoint(self, r: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:
        x = F.conv2d(r, self.weight, stride=self._s, padding=self._p, dilation=self._d, groups=self.groups)
        return x[..., : x_shape[1], : x_shape[2]]  # output_padding >= stride (dilated) adds a row

    def extra_repr(self) -> str:
        return (f"{self.in_channels} -> {self.out_channels}, kernel={self.kernel_size}, "
                f"output_padding={self.output_padding}, {self._options()}")
