r"""The fully connected map :class:`Dense`, :math:`v = W\,\mathrm{vec}(x) + b`, and
:func:`op_norms_sq`, the power iterations of several dense maps of one shape batched into one."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .linear_map import LinearMap


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
