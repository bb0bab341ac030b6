"""Score denoisers on whole test images with noise drawn once from a fixed seed."""

from __future__ import annotations

import deepinv as dinv
import torch

from ..metrics import psnr, ssim


def noisy_test_set(images: list[torch.Tensor], sigma: float, seed: int = 2024) -> list[torch.Tensor]:
    """Each test image plus Gaussian noise (deepinv's ``GaussianNoise``) from one fixed seed,
    so every method is scored on the very same noisy images."""
    noise = dinv.physics.GaussianNoise(sigma=sigma, rng=torch.Generator().manual_seed(seed))
    return [noise(img[None])[0] for img in images]


@torch.no_grad()
def restore_images(network: torch.nn.Module, degraded: list[torch.Tensor]) -> list[torch.Tensor]:
    """Apply a trained network to whole images one at a time; outputs clipped to [0, 1]."""
    device = next(network.parameters()).device
    was_training = network.training
    network.eval()
    out = [network(z[None].to(device))[0].clamp(0, 1).cpu() for z in degraded]
    network.train(was_training)
    return out


#: A trained denoiser on whole noisy images (see :func:`restore_images`).
denoise_images = restore_images


def score(restored: list[torch.Tensor], clean: list[torch.Tensor]) -> dict:
    """Per-image and mean PSNR (data range 1) and SSIM (see :mod:`liftinv.metrics`)."""
    p = [float(psnr(x, c)) for x, c in zip(restored, clean)]
    s = [float(ssim(x, c)) for x, c in zip(restored, clean)]
    return {"psnr": p, "ssim": s, "psnr_mean": sum(p) / len(p), "ssim_mean": sum(s) / len(s)}
