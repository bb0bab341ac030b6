"""Denoising as a restoration task: Gaussian noise of standard deviation sigma.

Its training defaults are ``liftinv.denoising.cli.TRAIN_DEFAULTS`` (kept with the command line,
which imports no torch)."""

from __future__ import annotations

import torch

from ..utils.checks import check_sigma01


def describe(sigma: float) -> dict:
    """The task dictionary saved with a denoiser (``sigma`` on the [0, 1] scale)."""
    sigma = check_sigma01(sigma, positive=False)
    return {"task": "denoising", "sigma": float(sigma)}


def physics(task: dict, device="cpu"):
    """deepinv's ``Denoising`` with ``GaussianNoise(sigma)`` and its own generator on ``device``;
    ``task['sigma']`` is checked as in :func:`describe` (a dictionary written by hand)."""
    import deepinv as dinv

    sigma = check_sigma01(task.get("sigma"), "task['sigma']", positive=False)
    noise = dinv.physics.GaussianNoise(sigma=sigma, rng=torch.Generator(device))
    return dinv.physics.Denoising(noise_model=noise, device=device)
