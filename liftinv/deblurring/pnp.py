r"""Plug-and-play half-quadratic splitting (PnP-HQS) with a trained denoiser.

For :math:`y = Ax + n`, :math:`n\sim\mathcal N(0,\sigma^2)` and a denoiser :math:`D_{\sigma_d}`
trained at noise :math:`\sigma_d`, alternate

.. math::
    x_k = \arg\min_x \tfrac1{2\sigma^2}\|Ax-y\|^2 + \tfrac1{2\sigma_d^2}\|x - z_{k-1}\|^2
        = \mathrm{IFFT}\Big(\frac{\bar{\hat h}\hat y + \mu\hat z}{|\hat h|^2+\mu}\Big),\quad
        \mu = \sigma^2/\sigma_d^2,\qquad z_k = D_{\sigma_d}(x_k),

(exact FFT solve for the circular blur; :math:`z_0 = y`). Any denoiser works: the lifted- or
backprop-trained DFB-PNN, or deepinv's DnCNN, from :mod:`liftinv.denoising`.
"""

from __future__ import annotations

import torch

from .physics import CircularBlur


@torch.no_grad()
def pnp_hqs(y: torch.Tensor, kernel, sigma: float, denoiser: torch.nn.Module, sigma_d: float,
            iters: int = 8, scale: float = 1.0) -> torch.Tensor:
    """PnP-HQS restoration of ``y`` ((C, H, W) or (B, C, H, W)); ``scale`` multiplies
    :math:`\\mu` (1 = the Bayesian weighting above). Output clipped to [0, 1]."""
    if sigma_d <= 0:
        raise ValueError(f"sigma_d must be > 0, got {sigma_d}")
    blur = kernel if isinstance(kernel, CircularBlur) else CircularBlur(kernel)
    single = y.dim() == 3
    yb = (y[None] if single else y).to(next(denoiser.parameters()).device)
    h = blur.transfer(yb.shape[-2], yb.shape[-1], yb.device)
    mu = scale * max(sigma, 1e-4) ** 2 / sigma_d**2
    num_y = torch.fft.fft2(yb) * h.conj()
    den = h.abs() ** 2 + mu
    was = denoiser.training
    denoiser.eval()
    z = yb
    for _ in range(int(iters)):
        x = torch.fft.ifft2((num_y + mu * torch.fft.fft2(z)) / den).real
        z = denoiser(x)
    denoiser.train(was)
    z = z.clamp(0, 1).cpu()
    return z[0] if single else z
