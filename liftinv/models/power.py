r"""The power iteration behind every operator-norm estimate of the package.

For a self-adjoint positive semi-definite operator :math:`B` (in practice
:math:`B = A^\top A`, so that the result is :math:`\|A\|_2^2`) and a start :math:`v_0`::

    for k = 1 .. n_iter:
        u_k   = v_{k-1} / ||v_{k-1}||
        v_k   = B u_k
        est_k = <u_k, v_k>                     (Rayleigh quotient)
    return est_n, v_n / ||v_n||                (the estimate, the next warm start)

The Rayleigh quotient never exceeds the largest eigenvalue and does not decrease
along the iterations, so a solver taking steps :math:`1/\text{est}` stays inside the
:math:`2/L` descent bound.  Warm-started with the vector of the previous call, one
iteration per call tracks an operator that changes slowly (weights during training).

**Cold start.**  When no warm start is given, or it no longer fits (other shape,
device or dtype), the start is ``torch.randn`` of the expected shape drawn from
``torch.Generator().manual_seed(seed)`` in the expected dtype (several tensors: drawn
one after the other from that generator) and moved to the device, and at least
``cold_iters`` iterations are run.

A vector may be one tensor or a list of tensors (the parameters of a layer); inner
products and norms are then taken over all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Vec = torch.Tensor | list


def _dot(a: Vec, b: Vec) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return (a * b).sum()
    return sum((x * y).sum() for x, y in zip(a, b))


def _norm(a: Vec) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.norm()
    return torch.sqrt(sum((x * x).sum() for x in a))


def _scale(a: Vec, c: torch.Tensor) -> Vec:
    return a / c if isinstance(a, torch.Tensor) else [x / c for x in a]


def _fits(vec, shapes, like: torch.Tensor) -> bool:
    tensors = [vec] if isinstance(vec, torch.Tensor) else list(vec)
    return len(tensors) == len(shapes) and all(
        tuple(t.shape) == tuple(s) and t.device == like.device and t.dtype == like.dtype
        for t, s in zip(tensors, shapes)
    )


def cold_start(shape, like: torch.Tensor, seed: int = 0) -> Vec:
    """The fixed-seed random start: one tensor of ``shape``, or a list for a list of shapes."""
    gen = torch.Generator().manual_seed(int(seed))
    if isinstance(shape, (list,)) and shape and not isinstance(shape[0], int):
        return [torch.randn(tuple(s), generator=gen, dtype=like.dtype).to(like.device) for s in shape]
    return torch.randn(tuple(shape), generator=gen, dtype=like.dtype).to(like.device)


@torch.no_grad()
def power_iteration(
    op: Callable[[Vec], Vec],
    vec: Vec | None,
    n_iter: int = 1,
    *,
    shape: Sequence[int] | Sequence[Sequence[int]],
    like: torch.Tensor,
    seed: int = 0,
    cold_iters: int = 20,
    unit_next: bool = True,
) -> tuple[torch.Tensor, Vec]:
    r"""Estimate the largest eigenvalue of the self-adjoint PSD ``op`` (see the module doc).

    Parameters
    ----------
    op: :math:`v \mapsto Bv` on a tensor (or a list of tensors, like ``vec``); it may
        enable gradients inside (e.g. a Jacobian product by autograd).
    vec: the warm start (the vector returned by the previous call) or ``None``.
    n_iter: iterations; a cold start runs at least ``cold_iters``.
    shape: the vector's shape (a list of shapes for a list of tensors).
    like: a tensor with the dtype and device of the vector.
    seed: seed of the cold start.
    unit_next: return the next warm start normalised, :math:`v_n/\|v_n\|` (default), or as
        :math:`v_n = Bu_n` (the next call normalises it first; the same iterates up to
        rounding).

    Returns the estimate (a 0-dim tensor on ``like``'s device: no host synchronisation)
    and the next warm start.
    """
    multi = isinstance(shape, (list, tuple)) and len(shape) > 0 and not isinstance(shape[0], int)
    shapes = [tuple(s) for s in shape] if multi else [tuple(shape)]
    if vec is None or not _fits(vec, shapes, like):
        vec = cold_start(list(shapes) if multi else shapes[0], like, seed)
        n_iter = max(n_iter, cold_iters)
    est = torch.zeros((), dtype=like.dtype, device=like.device)
    for _ in range(n_iter):
        vec = _scale(vec, _norm(vec).clamp_min(1e-30))
        w = op(vec)
        est = _dot(vec, w)
        vec = w
    return est, (_scale(vec, _norm(vec).clamp_min(1e-30)) if unit_next else vec)
