"""Tiled inference: blending weights, exactness against untiled inference, shapes, memory budget."""

import pytest
import torch
from torch import nn

from liftinv.denoising.models import build_denoiser, default_arch
from liftinv.denoising.tiling import (
    auto_tile,
    blend_weights,
    bytes_per_pixel,
    denoise_tiled,
    receptive_radius,
    tile_starts,
)
from liftinv.models import CNN, DFBPNN, SccpPNN


def _dfb(channels=1, depth=3, features=4):
    torch.manual_seed(0)
    return DFBPNN((channels, 16, 16), depth=depth, features=features).double()


def _noisy(shape, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("size,tile,overlap", [(100, 32, 8), (97, 40, 16), (33, 32, 8), (65, 64, 0), (20, 32, 8)])
def test_blending_weights_sum_to_one_and_cover_the_axis(size, tile, overlap):
    parts = blend_weights(size, tile, overlap, torch.float64)
    total = torch.zeros(size, dtype=torch.float64)
    for start, w in parts:
        assert w.min() > 0 and w.max() <= 1 + 1e-12
        total[start:start + w.numel()] += w
    torch.testing.assert_close(total, torch.ones(size, dtype=torch.float64))
    starts = tile_starts(size, tile, overlap)
    assert starts[0] == 0 and starts[-1] + min(tile, size) == size
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))  # neighbours overlap enough


def test_receptive_radius_of_the_denoisers():
    assert receptive_radius(DFBPNN((1, 8, 8), depth=4, features=2)) == 8
    assert receptive_radius(DFBPNN((1, 8, 8), depth=4, features=2, inertial=True)) == 8
    assert receptive_radius(SccpPNN((1, 8, 8), depth=5, features=2)) == 10
    assert receptive_radius(build_denoiser(default_arch("dncnn", depth=5, features=4))) == 5
    assert receptive_radius(CNN((1, 16, 16))) is None  # strided: not tiled exactly


@pytest.mark.parametrize("shape", [(1, 1, 70, 53), (2, 3, 41, 66)])
def test_tiled_equals_untiled_everywhere_with_a_full_halo(shape):
    net = _dfb(shape[1])
    z = _noisy(shape)
    with torch.no_grad():
        full = net(z)
    tiled = denoise_tiled(net, z, tile=24, overlap=8)  # halo = receptive radius = 6
    torch.testing.assert_close(tiled, full, rtol=0, atol=1e-12)


def test_tiled_equals_untiled_away_from_seams_without_halo():
    """halo=0: exact at the pixels that one tile alone covers, farther than R from its inner edges."""
    net, (h, w), tile, overlap = _dfb(), (61, 47), 30, 6
    radius = receptive_radius(net)
    z = _noisy((1, 1, h, w), seed=1)
    with torch.no_grad():
        full = net(z)
    tiled = denoise_tiled(net, z, tile=tile, overlap=overlap, halo=0)

    def safe(size):
        mask = torch.zeros(size, dtype=torch.bool)
        for s, wts in blend_weights(size, tile, overlap, torch.float64):
            for i in range(wts.numel()):
                p = s + i
                inner = (s == 0 or i >= radius) and (s + wts.numel() == size or wts.numel() - 1 - i >= radius)
                mask[p] |= bool(wts[i] == 1) and inner
        return mask

    mask = safe(h)[:, None] & safe(w)[None, :]
    assert mask.float().mean() > 0.2
    torch.testing.assert_close(tiled[0, 0][mask], full[0, 0][mask], rtol=0, atol=1e-12)
    assert (tiled - full).abs().max() < 0.5  # blended, not broken, across the seams


@pytest.mark.parametrize("shape", [(1, 19, 23), (3, 30, 30)])
def test_an_image_smaller_than_a_tile_is_run_whole(shape):
    net = _dfb(shape[0])
    z = _noisy(shape)
    out = denoise_tiled(net, z, tile=32)
    assert out.shape == shape
    with torch.no_grad():
        assert torch.equal(out, net(z[None])[0])


def test_sccp_and_dncnn_tile_exactly_too():
    torch.manual_seed(0)
    z = _noisy((1, 3, 45, 38)).float()
    for net in (SccpPNN((3, 8, 8), depth=2, features=3), build_denoiser(default_arch("dncnn", 3, depth=3, features=4))):
        with torch.no_grad():
            full = net(z)
        torch.testing.assert_close(denoise_tiled(net, z, tile=20, overlap=4), full, rtol=0, atol=1e-5)


def test_automatic_tile_fits_the_budget():
    net = build_denoiser(default_arch("dfb"))
    assert auto_tile(net, 300, 200) == 300  # small: whole
    tile = auto_tile(net, 2048, 2048, budget_mb=1024, halo=20)
    assert 64 <= tile < 2048 and tile % 32 == 0
    assert (tile + 40) ** 2 * bytes_per_pixel(net) <= 1024 * 2**20
    with pytest.raises(ValueError, match="tile > overlap"):
        denoise_tiled(net, torch.rand(1, 100, 100), tile=16, overlap=16)


@pytest.mark.parametrize("padding, mode, radius", [(1, "zeros", 2), ("same", "reflect", 2), (1, "circular", None),
                                                   (0, "zeros", None)])
def test_receptive_radius_counts_only_convolutions_that_keep_tiles_exact(padding, mode, radius):
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=padding, padding_mode=mode), nn.ReLU(),
                        nn.Conv2d(2, 1, 3, padding=padding, padding_mode=mode))
    assert receptive_radius(net) == radius


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # torch's, about speed
def test_even_same_convolutions_reach_their_larger_half_and_tile_exactly():
    """padding='same' with a 4x4 kernel reaches 2 pixels on one side (torch pads unevenly); an
    explicit padding 1 with it changes the size (not 'same')."""
    torch.manual_seed(0)
    net = nn.Sequential(*[nn.Conv2d(1, 1, 4, padding="same") for _ in range(6)])
    assert receptive_radius(net) == 12
    assert receptive_radius(nn.Conv2d(1, 1, 4, padding=1)) is None
    assert receptive_radius(nn.Conv2d(1, 1, 5, padding=2, dilation=1)) == 2
    z = torch.rand(1, 1, 70, 90, dtype=torch.float64)
    net = net.double()
    with torch.no_grad():
        torch.testing.assert_close(denoise_tiled(net, z, tile=32, overlap=8), net(z), rtol=0, atol=1e-12)


def test_automatic_tiles_share_the_memory_budget_among_the_batch(monkeypatch):
    from liftinv.denoising import tiling

    seen = []
    monkeypatch.setattr(tiling, "auto_tile", lambda net, h, w, budget, halo: seen.append(budget) or max(h, w))
    denoise_tiled(_dfb(), torch.rand(4, 1, 16, 16, dtype=torch.float64), budget_mb=100.0)
    assert seen == [25.0]


def test_a_network_that_changes_the_size_is_refused_by_tiling():
    with pytest.raises(ValueError, match=r"output has its input's size.*\(40, 40\) pixels to \(38, 38\)"):
        denoise_tiled(nn.Conv2d(1, 1, 3), torch.rand(1, 1, 50, 50), tile=32, overlap=8)
