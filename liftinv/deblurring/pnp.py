r"""Plug-and-play half-quadratic splitting (PnP-HQS) with a trained denoiser, on deepinv's solver.

For :math:`y = Ax + n`, :math:`n\sim\mathcal N(0,\sigma^2)` and a denoiser :math:`D_{\sigma_d}`
trained at noise :math:`\sigma_d`, alternate

.. math::
    x_k = \arg\min_x \tfrac1{2\sigma^2}\|Ax-y\|^2 + \tfrac1{2\sigma_d^2}\|x - z_{k-1}\|^2
        = \mathrm{IFFT}\Big(\frac{\bar{\hat h}\hat y + \mu\hat z}{|\hat h|^2+\mu}\Big),\quad
        \mu = \sigma^2/\sigma_d^2,\qquad z_k = D_{\sigma_d}(x_k),

(:math:`z_0 = y`). This is deepinv's :class:`deepinv.optim.HQS` with the data fidelity
:class:`~deepinv.optim.L2` (:math:`\tfrac12\|Ax-y\|^2`, step :math:`\gamma = 1/\mu`), the prior
:class:`~deepinv.optim.PnP` and the physics :class:`~deepinv.physics.BlurFFT`, whose ``prox_l2``
is the exact FFT solve above. Any denoiser works: the lifted- or backprop-trained DFB-PNN, or
deepinv's DnCNN, from :mod:`liftinv.denoising`.
"""

from __future__ import annotations

import torch

from ..utils.checks import check_image, check_image_scale, check_number, check_positive, check_sigma01
from .physics import CircularBlur

#: the noise an 8-bit image carries at least (rounding: 1/sqrt(12) of a grey level), the floor of
#: sigma in mu (at sigma -> 0 the x-step becomes an inverse filter and amplifies that rounding)
QUANTISATION_SIGMA = 1.0 / (255.0 * 12.0**0.5)


class _Fixed(torch.nn.Module):
    """``denoiser(x)`` under deepinv's denoiser signature ``(x, sigma)`` (its level is fixed)."""

    def __init__(self, denoiser: torch.nn.Module) -> None:
        super().__init__()
        self.denoiser = denoiser

    def forward(self, x: torch.Tensor, sigma=None, **kwargs) -> torch.Tensor:
        peak = float(x.detach().abs().amax()) if x.numel() else 0.0
        if not peak <= 10.0:  # far outside [0, 1] (or NaN): the iteration diverged
            raise ValueError(f"PnP-HQS diverged: its iterate reached {peak:.3g} where images lie in [0, 1]; the "
                             "denoiser does not hold it for these data: try a larger --sigma or another denoiser")
        return self.denoiser(x)


@torch.no_grad()
def pnp_hqs(y: torch.Tensor, kernel, sigma: float, denoiser: torch.nn.Module, sigma_d: float,
            iters: int = 8, scale: float = 1.0) -> torch.Tensor:
    """PnP-HQS restoration of ``y`` ((C, H, W) or (B, C, H, W)); ``scale`` multiplies
    :math:`\\mu` (1 = the Bayesian weighting above; ``sigma`` below :data:`QUANTISATION_SIGMA` counts
    as that). Output clipped to [0, 1], on the CPU.  ``y`` must be a finite floating image on the
    [0, 1] scale (a 0-255 one was reported as a diverged iteration), ``scale`` > 0 and ``iters`` an
    integer >= 0 (0: ``y`` itself)."""
    import deepinv as dinv

    sigma_d = check_sigma01(sigma_d, "sigma_d")
    sigma = check_sigma01(sigma, positive=False)
    scale = check_positive(scale, "pnp_hqs: scale")
    iters = check_number(iters, "pnp_hqs: iters", integer=True)
    check_image(y, "pnp_hqs: y", unit_range=False)
    check_image_scale(y, "pnp_hqs: y")
    blur = kernel if isinstance(kernel, CircularBlur) else CircularBlur(kernel)
    single = y.dim() == 3
    yb = (y[None] if single else y).to(next(denoiser.parameters()).device)
    mu = scale * max(sigma, QUANTISATION_SIGMA) ** 2 / sigma_d**2
    solver = dinv.optim.HQS(data_fidelity=dinv.optim.L2(), prior=dinv.optim.PnP(_Fixed(denoiser)),
                            stepsize=1.0 / mu, lambda_reg=1.0, g_param=sigma_d, max_iter=int(iters))
    was = denoiser.training
    denoiser.eval()
    try:
        z = solver(yb, blur.blur_fft(yb.shape[1:], yb.device), init=yb)
    finally:
        denoiser.train(was)
    z = z.clamp(0, 1).cpu()
    return z[0] if single else z


@torch.no_grad()
def pnp_dpir(y: torch.Tensor, kernel, sigma: float, denoiser=None) -> torch.Tensor:
    r"""PnP-HQS with a schedule of denoising strengths: deepinv's HQS with the DPIR parameters
    (``deepinv.optim.dpir.get_DPIR_params``: 8 iterations, :math:`\sigma_d` from 49/255 down to
    ``sigma``, the step sizes that go with them), the prior a deepinv denoiser ``denoiser(x, sigma_d)``
    for every strength: by default liftinv's shipped grayscale models as one
    (:func:`liftinv.pretrained.deepinv_denoiser`, colour images in the opponent colour space).

    ``y``: (C, H, W) or (B, C, H, W) in [0, 1]; ``sigma``: its noise std on the [0, 1] scale
    (floored at :data:`QUANTISATION_SIGMA`).  Output clipped to [0, 1], on the CPU.
    """
    import deepinv as dinv
    from deepinv.optim.dpir import get_DPIR_params

    sigma = max(check_sigma01(sigma, positive=False), QUANTISATION_SIGMA)
    check_image(y, "pnp_dpir: y", unit_range=False)
    check_image_scale(y, "pnp_dpir: y")
    single = y.dim() == 3
    yb = y[None] if single else y
    if denoiser is None:
        from ..pretrained import deepinv_denoiser

        denoiser = deepinv_denoiser(color=yb.shape[1] == 3, device=yb.device)
    blur = kernel if isinstance(kernel, CircularBlur) else CircularBlur(kernel)
    sigmas, stepsizes, iters = get_DPIR_params(sigma)
    solver = dinv.optim.optim_builder(
        iteration="HQS", prior=dinv.optim.PnP(denoiser=denoiser), data_fidelity=dinv.optim.L2(),
        early_stop=False, max_iter=iters, verbose=False,
        params_algo={"stepsize": list(map(float, stepsizes)), "g_param": list(map(float, sigmas)), "lambda": 1.0})
    z = solver(yb, blur.blur_fft(yb.shape[1:], yb.device)).clamp(0, 1).cpu()
    return z[0] if single else z
