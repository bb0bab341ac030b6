"""Scoring restorations: one fixed-seed degraded test set, restore whole images, PSNR and SSIM."""

from __future__ import annotations

import torch

from ..metrics import SSIM_CONVENTION, psnr, ssim

#: Seed of the noise of every test set, so all methods are scored on the very same inputs.
TEST_SEED = 2024


@torch.no_grad()
def degraded_test_set(physics, images: list[torch.Tensor], seed: int = TEST_SEED) -> list[torch.Tensor]:
    """``physics`` applied to each ``(C, H, W)`` test image, the noise drawn from one generator
    seeded once with ``seed`` (``physics`` must be on the CPU with an ``rng`` in its noise model)."""
    physics.noise_model.rng_manual_seed(seed)
    return [physics(img[None])[0] for img in images]


@torch.no_grad()
def restore_images(network: torch.nn.Module, degraded: list[torch.Tensor]) -> list[torch.Tensor]:
    """Apply a trained network to whole images one at a time; outputs clipped to [0, 1]."""
    ref = next(network.parameters(), None)  # a parameter-free network runs where its inputs are
    device = ref.device if ref is not None else None
    was_training = network.training
    network.eval()
    out = [network(z[None] if device is None else z[None].to(device))[0].clamp(0, 1).cpu() for z in degraded]
    network.train(was_training)
    return out


def score(restored: list[torch.Tensor], clean: list[torch.Tensor]) -> dict:
    """Per-image and mean PSNR (data range 1) and SSIM (see :mod:`liftinv.metrics`)."""
    if len(restored) != len(clean) or not clean:
        raise ValueError(f"score needs one restored image per clean image, got {len(restored)} restored and "
                         f"{len(clean)} clean")
    p = [float(psnr(x, c)) for x, c in zip(restored, clean)]
    s = [float(ssim(x, c)) for x, c in zip(restored, clean)]
    return {"psnr": p, "ssim": s, "psnr_mean": sum(p) / len(p), "ssim_mean": sum(s) / len(s)}


def load_reference(clean: str, degraded: torch.Tensor) -> torch.Tensor:
    """The reference image file ``clean`` in the channels of ``degraded``; a clear error unless it
    has its shape (read before any output is written)."""
    from ..data import load_image

    ref = load_image(clean, color=degraded.shape[0] == 3)
    if ref.shape != degraded.shape:
        raise ValueError(f"--clean {clean!r} has shape {tuple(ref.shape)} but the input has {tuple(degraded.shape)}")
    return ref


#: What the reports print instead of an SSIM for an image smaller than its window.
SSIM_NA = "SSIM n/a (its 11x11 window needs an image of at least 11x11 pixels)"


def has_ssim(ref: torch.Tensor) -> bool:
    """Whether ``ref`` is large enough for SSIM's 11x11 Gaussian window."""
    return min(ref.shape[-2:]) >= 11


def report_against_clean(clean: str | torch.Tensor, degraded: torch.Tensor, restored: torch.Tensor) -> None:
    """Print the PSNR and SSIM of the degraded input and of the restored image against the
    reference ``clean``: an image (see :func:`load_reference`) or its file (no SSIM below 11x11)."""
    ref = load_reference(clean, degraded) if isinstance(clean, str) else clean
    if has_ssim(ref):
        similarity = f"SSIM {float(ssim(degraded, ref)):.3f} -> {float(ssim(restored, ref)):.3f} ({SSIM_CONVENTION})"
    else:
        similarity = SSIM_NA
    print(f"PSNR input {float(psnr(degraded, ref)):.2f} dB -> output {float(psnr(restored, ref)):.2f} dB; "
          + similarity)
