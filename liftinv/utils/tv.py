r"""Finite differences and isotropic total variation: the toolbox's one implementation.

Images are ``(B, C, H, W)``; a gradient field is ``(B, C, 2, H, W)``, component 0 the
difference along H (rows) and component 1 along W (columns):

* :func:`grad2d`: forward differences :math:`(\nabla x)_{i,j} = (x_{i+1,j}-x_{i,j},\ x_{i,j+1}-x_{i,j})`,
  with either a **Neumann** boundary (the last difference is 0; deepinv's ``TVPrior`` /
  ``TVDenoiser.nabla`` operator, used by the inversion regulariser) or a **periodic** one
  (wrap-around, the boundary of the circular blur model, used by TV deconvolution);
* :func:`div2d`: :math:`\mathrm{div} = -\nabla^\top`, the exact discrete adjoint for the same boundary;
* :func:`project_ball`: the pixelwise projection of a field onto :math:`\{|p_{ij}|_2 \le r\}`
  (the dual ball of :math:`r\,\mathrm{TV}`);
* :func:`tv_norm`: per-sample :math:`\sum_{c,i,j} |(\nabla x)_{c,i,j}|_2`.

These stay ours rather than deepinv's ``TVDenoiser.nabla``/``nabla_adjoint`` (the same Neumann
operator, checked in the tests): ours keep each component a contiguous plane and run 1.5-2x
faster on CPU, and deepinv has no periodic variant.
"""

from __future__ import annotations

import torch

__all__ = ["div2d", "grad2d", "project_ball", "project_unit_ball", "tv_norm"]


def grad2d(x: torch.Tensor, periodic: bool = False) -> torch.Tensor:
    r"""Forward differences of ``(B, C, H, W)`` images: ``(B, C, 2, H, W)`` (Neumann or periodic)."""
    if periodic:
        return torch.stack((torch.roll(x, -1, -2) - x, torch.roll(x, -1, -1) - x), 2)
    g = x.new_zeros(x.shape[:2] + (2,) + x.shape[2:])
    g[:, :, 0, :-1] = x[:, :, 1:] - x[:, :, :-1]
    g[:, :, 1, :, :-1] = x[:, :, :, 1:] - x[:, :, :, :-1]
    return g


def div2d(p: torch.Tensor, periodic: bool = False) -> torch.Tensor:
    r""":math:`\mathrm{div} = -\nabla^\top` for :func:`grad2d` with the same boundary (exact adjoint)."""
    p1, p2 = p[:, :, 0], p[:, :, 1]
    if periodic:
        return (p1 - torch.roll(p1, 1, -2)) + (p2 - torch.roll(p2, 1, -1))
    d = torch.zeros_like(p1)
    d[:, :, 0] = p1[:, :, 0]
    d[:, :, 1:-1] = p1[:, :, 1:-1] - p1[:, :, :-2]
    d[:, :, -1] = -p1[:, :, -2]
    d[:, :, :, 0] += p2[:, :, :, 0]
    d[:, :, :, 1:-1] += p2[:, :, :, 1:-1] - p2[:, :, :, :-2]
    d[:, :, :, -1] += -p2[:, :, :, -2]
    return d


def pixel_norm(p: torch.Tensor) -> torch.Tensor:
    """The length of every pixel's 2-vector of a ``(B, C, 2, H, W)`` field, shape ``(B, C, 1, H, W)``.

    Written out (``sqrt(p1^2 + p2^2)``): ``p.norm(dim=2)`` takes a slow reduction path on the
    CPU, 35 times slower for this size-2 dimension (measured in the TV prox, torch 2.14).
    """
    a, b = p[:, :, 0:1], p[:, :, 1:2]
    return (a * a).addcmul_(b, b).sqrt_()


def project_ball(p: torch.Tensor, radius=1.0) -> torch.Tensor:
    """Project every pixel's 2-vector of a ``(B, C, 2, H, W)`` field onto the disc of ``radius``
    (a number, or a tensor broadcasting against ``(B, C, 1, H, W)``)."""
    return p / (pixel_norm(p) / radius).clamp_min_(1.0)


def project_unit_ball(p: torch.Tensor) -> torch.Tensor:
    """:func:`project_ball` with radius 1."""
    return p / pixel_norm(p).clamp_min_(1.0)


def tv_norm(x: torch.Tensor, periodic: bool = False) -> torch.Tensor:
    """Isotropic TV of each sample of ``(B, C, H, W)`` images: shape ``(B,)``."""
    return pixel_norm(grad2d(x, periodic)).flatten(1).sum(1)
