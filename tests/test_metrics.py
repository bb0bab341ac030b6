"""liftinv.metrics: PSNR (data_range 1) and SSIM (scikit-image, Wang et al. 2004 settings)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from liftinv.metrics import SSIM_CONVENTION, psnr, ssim


def _images(b=2, c=1, h=32, w=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=gen)


def _noisy(ref, sigma, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return ref + sigma * torch.randn(ref.shape, generator=gen)


# ---------------------------------------------------------------------------- PSNR


def test_psnr_identical_is_inf(device):
    ref = _images().to(device)
    out = psnr(ref, ref.clone())
    assert out.shape == (2,)
    assert out.device == ref.device
    assert torch.isinf(out).all() and (out > 0).all()


def test_psnr_constant_error_known_value():
    ref = 0.9 * _images(b=3, c=3)
    assert torch.allclose(psnr(ref + 0.1, ref), torch.full((3,), 20.0), atol=1e-4)
    assert torch.allclose(psnr(ref + 0.01, ref), torch.full((3,), 40.0), atol=1e-3)


def test_psnr_single_image_is_0_dim():
    ref = 0.9 * _images(b=1)[0]
    out = psnr(ref + 0.1, ref)
    assert out.ndim == 0
    assert float(out) == pytest.approx(20.0, abs=1e-4)


def test_psnr_clip():
    ref = torch.full((1, 1, 8, 8), 0.8)
    x = ref + 0.5  # 1.3, clamped to 1.0 -> error 0.2
    assert float(psnr(x, ref)) == pytest.approx(-20 * math.log10(0.2), abs=1e-4)
    assert float(psnr(x, ref, clip=False)) == pytest.approx(-20 * math.log10(0.5), abs=1e-4)


def test_psnr_of_signals_outside_the_unit_range():
    ref = _noisy(_images(b=2), 0.3)  # a noisy input, leaving [0, 1]
    x = ref + 0.1
    with pytest.raises(ValueError, match=r"^ref: values in"):
        psnr(x, ref, clip=False)
    out = psnr(x, ref, clip=False, unit_ref=False)
    assert torch.allclose(out, torch.full((2,), 20.0), atol=1e-3)
    raw = -10 * torch.log10((x[:1] - ref[:1]).pow(2).mean())  # the whole-tensor formula, one image
    assert float(psnr(x[:1], ref[:1], clip=False, unit_ref=False)) == pytest.approx(float(raw), abs=1e-4)


def test_psnr_is_per_image():
    ref = 0.9 * _images(b=2)
    x = ref.clone()
    x[0] += 0.1
    x[1] += 0.01
    assert torch.allclose(psnr(x, ref), torch.tensor([20.0, 40.0]), atol=1e-3)


@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_agrees_with_deepinv(channels):
    import deepinv

    ref = _images(b=3, c=channels)
    x = _noisy(ref, 0.1).clamp(0, 1)  # deepinv does not clip; compare on the same values
    ours = psnr(x, ref)
    theirs = deepinv.metric.PSNR(max_pixel=1.0)(x, ref)  # per image, no reduction by default
    assert theirs.shape == ours.shape == (3,)
    assert torch.allclose(ours, theirs, atol=1e-3)


# ---------------------------------------------------------------------------- SSIM


def test_ssim_convention_is_named():
    assert "structural_similarity" in SSIM_CONVENTION
    assert "sigma=1.5" in SSIM_CONVENTION and "data_range=1" in SSIM_CONVENTION


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_identical_is_one(channels):
    ref = _images(b=2, c=channels)
    out = ssim(ref, ref.clone())
    assert out.shape == (2,)
    assert torch.allclose(out, torch.ones(2), atol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_decreases_with_noise(channels):
    ref = _images(b=1, c=channels, h=40, w=40)
    scores = [float(ssim(_noisy(ref, s), ref)) for s in (0.02, 0.1, 0.3)]
    assert 1.0 > scores[0] > scores[1] > scores[2]


def test_ssim_matches_skimage_wang_convention():
    ref = _images(b=1, c=3, h=24, w=24)[0]
    x = _noisy(ref, 0.1).clamp(0, 1)
    expected = structural_similarity(
        x.double().numpy(),
        ref.double().numpy(),
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        channel_axis=0,
    )
    out = ssim(x, ref)
    assert out.ndim == 0
    assert float(out) == pytest.approx(expected, abs=1e-6)
    gray = structural_similarity(
        x[0].double().numpy(),
        ref[0].double().numpy(),
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert float(ssim(x[:1], ref[:1])) == pytest.approx(gray, abs=1e-6)


def test_ssim_clamps_x():
    ref = _images(b=1)
    x = _noisy(ref, 0.3)
    assert float(ssim(x, ref)) == pytest.approx(float(ssim(x.clamp(0, 1), ref)), abs=1e-7)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_errors_name_the_argument(metric):
    ref = _images()
    with pytest.raises(ValueError, match=r"x has shape .* ref has shape"):
        metric(ref[:, :, :16], ref)
    bad = ref.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^x: .*NaN"):
        metric(bad, ref)
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"^ref: .*NaN or Inf"):
        metric(ref, bad)
    with pytest.raises(ValueError, match=r"^ref: values in .*expected values in \[0, 1\]"):
        metric(ref, ref * 2)
    with pytest.raises(ValueError, match=r"^x: expected shape \(B, C, H, W\)"):
        metric(ref[0, 0], ref[0, 0])
    with pytest.raises(TypeError, match=r"^x: .*uint8"):
        metric((ref * 255).to(torch.uint8), ref)
    with pytest.raises(TypeError, match=r"^ref: .*Tensor"):
        metric(ref, np.zeros((2, 1, 32, 32)))


def test_ssim_too_small():
    ref = _images(h=8, w=8)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(ref, ref)


def test_psnr_of_float64_images_is_computed_before_rounding_to_float32():
    ref = torch.full((1, 1, 8, 8), 0.5, dtype=torch.float64)
    value = psnr(ref + 1e-9, ref)  # float32 would round both to 0.5: inf
    assert value.dtype == torch.float32 and float(value) == pytest.approx(180.0, abs=1e-3)
