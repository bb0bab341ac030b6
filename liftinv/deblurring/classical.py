r"""Classical deconvolution for the circular blur model, exact in the Fourier domain.

* :func:`wiener_deconvolve`: :math:`\hat x = \mathrm{IFFT}\big(\bar{\hat h}\hat y/(|\hat h|^2+b)\big)`
  (the Wiener/Tikhonov filter with balance :math:`b`; scikit-image's ``wiener`` is the same
  filter but assumes its own kernel centring and boundary, so ours uses deepinv's operator's
  transfer function to stay consistent with the data);
* :func:`tv_deconvolve`: :math:`\min_x\tfrac12\|Ax-y\|^2 + w\,\mathrm{TV}(x)` (isotropic), by
  Condat-Vu primal-dual iterations;
* :func:`richardson_lucy`: multiplicative RL iterations (the data are clipped to be positive).

Their parameters (balance, TV weight, RL iteration count) are tuned by :func:`tune` on degraded
copies of *training* images, never the test images.
"""

from __future__ import annotations

import torch

from ..metrics import psnr
from .physics import CircularBlur


def _blur(kernel) -> CircularBlur:
    return kernel if isinstance(kernel, CircularBlur) else CircularBlur(kernel)


def _batch(y: torch.Tensor):
    return (y[None], True) if y.dim() == 3 else (y, False)


@torch.no_grad()
def wiener_deconvolve(y: torch.Tensor, kernel, balance: float) -> torch.Tensor:
    """Wiener/Tikhonov deconvolution with balance ``balance`` (> 0); output clipped to [0, 1]."""
    if not balance > 0:
        raise ValueError(f"balance must be > 0, got {balance}")
    blur = _blur(kernel)
    yb, single = _batch(y)
    h = blur.transfer(yb.shape[-2], yb.shape[-1], yb.device)
    x = torch.fft.ifft2(torch.fft.fft2(yb) * h.conj() / (h.abs() ** 2 + balance)).real.clamp(0, 1)
    return x[0] if single else x


def _grad(x):
    return torch.stack((torch.roll(x, -1, -1) - x, torch.roll(x, -1, -2) - x), 0)


def _div(p):  # -(grad)^T
    return (p[0] - torch.roll(p[0], 1, -1)) + (p[1] - torch.roll(p[1], 1, -2))


@torch.no_grad()
def tv_deconvolve(y: torch.Tensor, kernel, weight: float, iters: int = 200) -> torch.Tensor:
    r"""Isotropic-TV deconvolution (periodic differences) by Condat-Vu:
    :math:`p\leftarrow\mathrm{proj}_{\|\cdot\|\le w}(p + s\nabla\bar x)`,
    :math:`x\leftarrow x - t(A^*(Ax-y) - \mathrm{div}\,p)`, with :math:`1/t - 8s \ge \|A\|^2/2`."""
    blur = _blur(kernel)
    yb, single = _batch(y)
    x = yb.clone()
    p = torch.zeros((2,) + tuple(yb.shape), dtype=yb.dtype, device=yb.device)
    s, t = 1.0, 1.0 / (8.0 + 0.5 * blur.norm_sq(*yb.shape[-2:]) + 1e-3)
    for _ in range(iters):
        x_new = x - t * (blur.A_adjoint(blur.A(x) - yb) - _div(p))
        p = p + s * _grad(2 * x_new - x)
        p = p / (p.norm(dim=0, keepdim=True) / weight).clamp_min(1.0)
        x = x_new
    x = x.clamp(0, 1)
    return x[0] if single else x


@torch.no_grad()
def richardson_lucy(y: torch.Tensor, kernel, iters: int = 30) -> torch.Tensor:
    """Richardson-Lucy iterations :math:`x \\leftarrow x\\,A^*(y/Ax)/A^*1` from :math:`x_0 = y`."""
    blur = _blur(kernel)
    yb, single = _batch(y)
    yp = yb.clamp_min(1e-3)
    x = yp.clone()
    norm = blur.A_adjoint(torch.ones_like(yp))
    for _ in range(int(iters)):
        x = x * blur.A_adjoint(yp / blur.A(x).clamp_min(1e-6)) / norm
    x = x.clamp(0, 1)
    return x[0] if single else x


def tune(method, train_images, kernel, sigma: float, grid, *, crop: int = 256, seed: int = 7) -> tuple[float, dict]:
    """The value in ``grid`` maximising mean PSNR of ``method(y, kernel, value)`` on blurred,
    noisy centre crops of the *training* images (noise from ``seed``). Returns ``(best, scores)``."""
    from .physics import blurred_test_set

    clean = []
    for img in train_images:
        h, w = img.shape[-2:]
        top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        clean.append(img[..., top:top + crop, left:left + crop])
    blur = _blur(kernel)
    degraded = blurred_test_set(clean, blur.kernel, sigma, seed=seed)
    scores = {}
    for value in grid:
        scores[value] = sum(float(psnr(method(y, blur, value), c)) for y, c in zip(degraded, clean)) / len(clean)
    best = max(scores, key=scores.get)
    return best, scores


def wiener_grid(sigma: float) -> list[float]:
    """Balances around the noise-to-signal ratio ``sigma^2 / 0.05`` (a factor 100 each way)."""
    base = max(sigma, 1e-3) ** 2 / 0.05
    return [base * 10 ** (e / 2) for e in range(-4, 5)]
