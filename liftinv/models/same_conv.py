r"""A "same" convolution :math:`D` and its adjoint :math:`D^*`, fast on CPU too.

:math:`D: \mathbb R^{C\times H\times W}\to\mathbb R^{F\times H\times W}` is the stride-1
convolution with an odd :math:`k\times k` kernel :math:`w` and zero padding
:math:`k/2`; :math:`D^*` is its adjoint (the transposed convolution).  With the
patch matrix :math:`P(x)` (``unfold``: :math:`Ck^2` rows, one column per pixel) and
:math:`W \in \mathbb R^{F\times Ck^2}` the kernel as a matrix,

.. math::
    D x = W P(x),\qquad D^*u = P^*(W^\top u),

where :math:`P^*` is ``fold``.  On CUDA both are cuDNN's ``conv2d`` /
``conv_transpose2d``.  On CPU, oneDNN's transposed convolution with few output
channels (:math:`F = 32 \to C = 1`) is several times slower than the forward one
(measured by ``benchmarks/step_kernels.py``, results in benchmarks/README.md), and so is
the input gradient of ``conv2d``; there :math:`D^*` is a matrix product
followed by ``fold``, and both maps get a backward pass written with the same two
products:

.. math::
    \nabla_x\langle g, Dx\rangle = D^*g,\quad \nabla_W\langle g, Dx\rangle = \textstyle\sum_b g_b P(x_b)^\top,\qquad
    \nabla_u\langle g, D^*u\rangle = Dg,\quad \nabla_W\langle g, D^*u\rangle = \textstyle\sum_b u_b P(g_b)^\top .

The results agree with ``conv2d`` / ``conv_transpose2d`` to rounding
(``tests/test_same_conv.py``); the timings are in ``benchmarks/results/step_kernels``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


def _check(w: torch.Tensor) -> int:
    k = w.shape[-1]
    if w.dim() != 4 or w.shape[-2] != k or k % 2 == 0:
        raise ValueError(f"same_conv needs an odd square kernel (F, C, k, k), got {tuple(w.shape)}")
    return k


def _adjoint_cpu(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:math:`P^*(W^\\top u)`: one batched matrix product, one ``fold``."""
    b, f, h, wd = u.shape
    k = w.shape[-1]
    # detached: matmul with an operand that requires grad takes a path with two copies
    cols = torch.matmul(w.detach().reshape(f, -1).t(), u.detach().reshape(b, f, h * wd))
    return F.fold(cols, (h, wd), k, padding=k // 2)


def _weight_grad(out_side: torch.Tensor, in_side: torch.Tensor, k: int) -> torch.Tensor:
    r""":math:`\sum_b a_b P(x_b)^\top` with ``out_side`` :math:`a` (F channels), ``in_side`` :math:`x` (C channels)."""
    b, f = out_side.shape[:2]
    patches = F.unfold(in_side.detach(), k, padding=k // 2)  # (B, C k^2, HW)
    return torch.bmm(out_side.detach().reshape(b, f, -1), patches.transpose(1, 2)).sum(0)


class _SameConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return F.conv2d(x, w, padding=w.shape[-1] // 2)

    @staticmethod
    @once_differentiable  # the backward products run on detached tensors
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = _adjoint_cpu(g, w) if ctx.needs_input_grad[0] else None
        gw = _weight_grad(g, x, w.shape[-1]).view_as(w) if ctx.needs_input_grad[1] else None
        return gx, gw


class _SameConvAdjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, w):
        ctx.save_for_backward(u, w)
        return _adjoint_cpu(u, w)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        u, w = ctx.saved_tensors
        gu = F.conv2d(g, w, padding=w.shape[-1] // 2) if ctx.needs_input_grad[0] else None
        gw = _weight_grad(u, g, w.shape[-1]).view_as(w) if ctx.needs_input_grad[1] else None
        return gu, gw


def same_conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:math:`Dx`: ``conv2d(x, w, padding=k//2)``, ``(B, C, H, W) -> (B, F, H, W)``."""
    k = _check(w)
    if x.device.type != "cpu":
        return F.conv2d(x, w, padding=k // 2)
    return _SameConv.apply(x, w)


def same_conv_adjoint(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:math:`D^*u`: ``conv_transpose2d(u, w, padding=k//2)``, ``(B, F, H, W) -> (B, C, H, W)``."""
    k = _check(w)
    if u.device.type != "cpu":
        return F.conv_transpose2d(u, w, padding=k // 2)
    return _SameConvAdjoint.apply(u, w)
