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

import torch
import torch.nn.functional as F
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.A(x)
        if self.bias is not None:
            v = v + self.bias.view((1, -1) + (1,) * (v.dim() - 2))
        return v

    # -- operator norm -----------------------------------------------------------
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
        like = next(self.parameters())
        est, vec = power_iteration(lambda v: self.A_adjoint(self.A(v), x_shape), vec, n_iter,
                                   shape=(1,) + tuple(x_shape), like=like, seed=0, cold_iters=20)
        return float(est), vec

    def exact_norm_sq(self, x_shape: tuple[int, ...]) -> float:
        r""":math:`\|A\|_2^2` to high accuracy (many cold power iterations); for tests."""
        return self.op_norm_sq(x_shape, n_iter=500)[0]


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

    def A_adjoint(self, r: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:
        return (r @ self.weight).view((r.shape[0],) + tuple(x_shape))

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        n = math.prod(x_shape)
        if n != self.in_features:
            raise ValueError(f"Dense expects {self.in_features} input features, got shape {tuple(x_shape)}")
        return (self.out_features,)

    def exact_norm_sq(self, x_shape: tuple[int, ...]) -> float:
        return float(torch.linalg.matrix_norm(self.weight.detach(), ord=2) ** 2)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, bias={self.bias is not None}"


class Conv2d(LinearMap):
    r"""2-D convolution :math:`v = w * x + b` with its adjoint, the transposed convolution.

    ``padding`` defaults to ``kernel_size // 2`` (a "same" convolution for odd
    kernels and stride 1).  The adjoint is ``conv_transpose2d`` with the output
    padding that restores the input size, so strided maps are exact adjoints too.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        ref = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, bias=bias)
        self.weight = nn.Parameter(ref.weight.detach().clone())
        self.bias = nn.Parameter(ref.bias.detach().clone()) if bias else None
        self.stride = stride
        self.padding = kernel_size // 2 if padding is None else padding
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding)

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(x_shape) != 3 or x_shape[0] != self.in_channels:
            raise ValueError(
                f"Conv2d expects per-sample shape ({self.in_channels}, H, W), got {tuple(x_shape)}"
            )
        h, w = (
            (s + 2 * self.padding - self.kernel_size) // self.stride + 1 for s in x_shape[1:]
        )
        if h <= 0 or w <= 0:
            raise ValueError(f"Conv2d: input {tuple(x_shape)} is smaller than the kernel")
        return (self.out_channels, h, w)

    def A_adjoint(self, r: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:
        out_h, out_w = r.shape[-2:]
        pads = [
            size - ((o - 1) * self.stride - 2 * self.padding + self.kernel_size)
            for size, o in zip(x_shape[1:], (out_h, out_w))
        ]
        return F.conv_transpose2d(
            r, self.weight, stride=self.stride, padding=self.padding, output_padding=tuple(pads)
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels} -> {self.out_channels}, kernel={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )


class IdentityMap(LinearMap):
    """The identity :math:`v = x` (a residual skip); no parameters, norm 1."""

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def A_adjoint(self, r: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:
        return r

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(x_shape)

    def op_norm_sq(self, x_shape, vec=None, n_iter: int = 1):
        return 1.0, None

    def exact_norm_sq(self, x_shape: tuple[int, ...]) -> float:
        return 1.0
