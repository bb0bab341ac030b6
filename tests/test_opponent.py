"""The opponent-space colour denoiser (liftinv.denoising.opponent) and the colour default of
liftinv.pretrained."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch

from liftinv.denoising.opponent import CHANNEL_RANGES, OPPONENT, OpponentDenoiser, opponent_plan
from liftinv.pretrained import MODELS, WEIGHTS_DIR, pretrained

LEVELS = [15.0, 25.0, 50.0]


def test_the_transform_is_orthonormal_so_white_noise_stays_white():
    o = torch.tensor(OPPONENT, dtype=torch.float64)
    torch.testing.assert_close(o @ o.T, torch.eye(3, dtype=torch.float64))
    gen = torch.Generator().manual_seed(0)
    noise = 0.1 * torch.randn(3, 200_000, generator=gen, dtype=torch.float64)
    cov = torch.cov(o @ noise)
    torch.testing.assert_close(cov, 0.01 * torch.eye(3, dtype=torch.float64), atol=3e-4, rtol=0)


def test_channel_ranges_are_the_images_of_the_rgb_cube():
    o = torch.tensor(OPPONENT, dtype=torch.float64)
    corners = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=torch.float64)
    c = corners @ o.T
    for k, (lo, hi) in enumerate(CHANNEL_RANGES):
        assert math.isclose(float(c[:, k].min()), lo, abs_tol=1e-12)
        assert math.isclose(float(c[:, k].max()), hi, abs_tol=1e-12)


@pytest.mark.parametrize("scales", [(0.5, 0.6, 0.7), (1.0, 1.0, 1.0), (0.2, 2.0, 0.9)])
def test_identity_networks_give_back_the_input(scales):
    ident = torch.nn.Identity()
    z = torch.rand(2, 3, 9, 7, dtype=torch.float64)
    torch.testing.assert_close(OpponentDenoiser([ident] * 3, scales).double()(z), z)


def test_each_channel_goes_to_its_own_network_at_its_own_scale():
    seen = {}

    class Spy(torch.nn.Module):
        def __init__(self, k):
            super().__init__()
            self.k = k

        def forward(self, x):
            seen[self.k] = x.clone()
            return x

    z = torch.rand(1, 3, 5, 6, dtype=torch.float64)
    scales = (0.5, 0.7, 0.6)
    OpponentDenoiser([Spy(0), Spy(1), Spy(2)], scales).double()(z)
    c = torch.einsum("kj,bjhw->bkhw", torch.tensor(OPPONENT, dtype=torch.float64), z)
    for k, (lo, hi) in enumerate(CHANNEL_RANGES):
        torch.testing.assert_close(seen[k], (c[:, k:k + 1] - (lo + hi) / 2) * scales[k] + 0.5)


@pytest.mark.parametrize("sigma", [3.0, 15.0, 20.0, 25.0, 35.0, 50.0, 80.0])
def test_plan_keeps_every_channel_in_the_unit_range_and_picks_the_nearest_models(sigma):
    plan = opponent_plan(sigma, LEVELS)
    nearest = [min(LEVELS, key=lambda s: (abs(s - t), -s)) for t in (sigma / math.sqrt(3), sigma, sigma)]
    assert [level for level, _ in plan] == nearest
    for (level, scale), (lo, hi) in zip(plan, CHANNEL_RANGES):
        assert scale * (hi - lo) <= 1 + 1e-12  # the scaled channel fits in [0, 1]
        assert scale <= level / sigma + 1e-12  # never more noise than the model was trained for


def test_bad_input_is_refused_with_the_reason():
    ident = torch.nn.Identity()
    with pytest.raises(ValueError, match="3 denoisers and 3 scales"):
        OpponentDenoiser([ident, ident], [1.0, 1.0])
    with pytest.raises(ValueError, match="scales must be finite and > 0"):
        OpponentDenoiser([ident] * 3, [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"RGB batch \(B, 3, H, W\), got shape \(1, 1, 4, 4\)"):
        OpponentDenoiser([ident] * 3, [1.0] * 3)(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="no trained noise levels"):
        opponent_plan(25, [])


# -- the shipped colour default --------------------------------------------------------------------
def _require_gray():
    missing = [s["file"] for s in MODELS.values() if not s["color"] and not (WEIGHTS_DIR / s["file"]).is_file()]
    if missing:
        pytest.skip(f"shipped weights {missing} not written yet (benchmarks/train_pretrained.py)")


@pytest.mark.parametrize("sigma, files", [(25, ["sccp_gray_s15.pt", "sccp_gray_s25.pt"]),
                                          (35, ["sccp_gray_s25.pt"]), (50, ["sccp_gray_s25.pt", "sccp_gray_s50.pt"])])
def test_colour_default_is_the_opponent_denoiser_for_any_sigma(sigma, files):
    _require_gray()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # built for the requested sigma: no nearest-model notice
        net, info = pretrained(sigma, color=True, device="cpu")
    assert isinstance(net, OpponentDenoiser) and not net.training
    assert info["files"] == files and info["color_model"] == "opponent" and info["sigma"] == sigma
    assert info["trainer"] == "lifted" and info["seconds"] > 0 and "opponent colour space" in info["summary"]
    z = torch.rand(1, 3, 20, 18)
    with torch.no_grad():
        out = net(z)
    assert out.shape == z.shape and bool(torch.isfinite(out).all())


def test_opponent_denoiser_removes_noise_from_a_colour_image():
    """The composite denoises: on a smooth colour image with sigma 25 noise, far better than the input."""
    _require_gray()
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 48), indexing="ij")
    clean = torch.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.8 - 0.5 * xx * yy])[None]
    noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    net, _ = pretrained(25, color=True, device="cpu")
    with torch.no_grad():
        out = net(noisy).clamp(0, 1)
    mse_in, mse_out = float(((noisy - clean) ** 2).mean()), float(((out - clean) ** 2).mean())
    assert mse_out < mse_in / 8


def test_unknown_colour_model_is_refused():
    with pytest.raises(ValueError, match="color_model.*'opponent', 'rgb'"):
        pretrained(25, color=True, color_model="joint")


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-14)])
def test_identity_denoisers_give_the_input_back_in_its_own_precision(dtype, tol):
    z = torch.rand(2, 3, 8, 8, dtype=dtype, generator=torch.Generator().manual_seed(0))
    out = OpponentDenoiser([torch.nn.Identity()] * 3, scales=[0.5, 0.6, 0.6])(z)
    assert out.dtype == dtype and float((out - z).abs().max()) < tol
