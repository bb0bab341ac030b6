r"""Linear maps of a lifted layer: :math:`v = A_\theta x + b`.

Every layer of a lifted network reads one or more states through a map that is
linear in the state (affine with the bias).  The lifted solvers need three things
from such a map:

* ``A(x)``: the linear part :math:`A_\theta x`, and ``forward(x)``: :math:`A_\theta x + b`
  (differentiable in :math:`\theta`; named like deepinv's ``LinearPhysics`` so that nothing
  shadows ``nn.Module.apply``);
* ``A_adjoint(r, x_shape)``: :math:`A_\theta^\top r` (the bias does not enter);
* ``op_norm_sq()``: :math:`\|A_\theta\|_2^2`, the Lipschitz constant that sets the
  auxiliary step sizes, from a warm-started power iteration on :math:`A^\top A`.

The adjointness :math:`\langle A x, r\rangle = \langle x, A^\top r\rangle` of every map
is checked in ``tests/test_linear_maps.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.checks import check_number
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
        """A key shared by the maps whose warm power iterations :func:`op_norms_sq` can batch with this
        one's from the warm start ``vec``; ``None`` (the default, and always without a fitting
        warm start): this map iterates alone (:meth:`op_norm_sq`)."""
        return None


class Dense(LinearMap):
    r"""Fully connected map :math:`v = W\,\mathrm{vec}(x) + b`, :math:`W\in\mathbb R^{m\times n}`.

    Inputs of any per-sample shape are flattened, so a dense head can follow a
    convolution.  Initialisation: PyTorch's ``nn.Linear`` default.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Dense: features must be positive, got {in_features} -> {out_features}")
        ref = nn.Linear(in_features, out_features, bias=bias)
        self.weight = nn.Parameter(ref.weight.detach().clone())
        self.bias = nn.Parameter(ref.bias.detach().clone()) if bias else None
        self.in_features, self.out_features = in_features, out_features

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # A x + b as one kernel (addmm)
        return F.linear(x.flatten(1), self.weight, self.bias)

    def A_adjoint(self, r: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:
        return (r @ self.weight).view((r.shape[0],) + tuple(x_shape))

    explicit_grads = True

    def param_grads(self, r, x):
        r""":math:`\nabla_W = r^\top\mathrm{vec}(x)`, :math:`\nabla_b = \sum_i r_i`."""
        out = [(self.weight, torch.mm(r.t(), x.flatten(1)))]
        return out + [(self.bias, r.sum(0))] if self.bias is not None else out

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        n = math.prod(x_shape)
        if n != self.in_features:
            raise ValueError(f"Dense expects {self.in_features} input features, got shape {tuple(x_shape)}")
        return (self.out_features,)

    def exact_norm_sq(self, x_shape: tuple[int, ...]) -> float:
        return float(torch.linalg.matrix_norm(self.weight.detach(), ord=2) ** 2)

    def norm_batch_key(self, vec):
        w = self.weight
        if type(self).A is not Dense.A or vec is None or vec.numel() != self.in_features \
                or vec.dtype != w.dtype or vec.device != w.device:
            return None
        return (Dense, tuple(w.shape), w.dtype, w.device)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, bias={self.bias is not None}"


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, (int, float)) else tuple(int(v) for v in value)


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


def _spatial(name: str, x_shape: tuple[int, ...]) -> None:
    if len(x_shape) != 3:
        raise ValueError(f"{name} expects a per-sample shape (C, H, W), got {tuple(x_shape)}")


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


@torch.no_grad()
def op_norms_sq(maps: Sequence[LinearMap], vecs: Sequence[torch.Tensor]) -> list[tuple[float, torch.Tensor]]:
    r""":meth:`LinearMap.op_norm_sq` of several maps of one :meth:`~LinearMap.norm_batch_key` at once:
    one warm-started power iteration each, ``[(estimate, next warm start)]`` as the maps' own calls
    return them (to rounding), in a handful of batched products for all of them.

    For dense maps :math:`W_k` with warm starts :math:`v_k`: :math:`u_k = v_k/\|v_k\|`,
    :math:`w_k = W_k^\top W_k u_k`, estimate :math:`\langle u_k, w_k\rangle`, next start
    :math:`w_k/\|w_k\|`, as two ``bmm`` over the stacked weights: a refresh of an MLP's step
    sizes is about ten kernel launches instead of ten per layer.
    """
    if not maps:
        return []
    key = maps[0].norm_batch_key(vecs[0])
    if key is None or any(amap.norm_batch_key(v) != key for amap, v in zip(maps, vecs)):
        raise ValueError("op_norms_sq batches maps of one norm_batch_key, each with a fitting warm start")
    weights = torch.stack([amap.weight.detach() for amap in maps])                # (k, out, in)
    u = torch.stack([v.reshape(-1) for v in vecs])                                # (k, in)
    u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True).clamp_min(1e-30)
    w = torch.bmm(torch.bmm(u.unsqueeze(1), weights.transpose(1, 2)), weights).squeeze(1)
    est = (u * w).sum(1)
    w = w / torch.linalg.vector_norm(w, dim=1, keepdim=True).clamp_min(1e-30)
    return [(e, w[k].view(vecs[k].shape)) for k, e in enumerate(est.tolist())]
