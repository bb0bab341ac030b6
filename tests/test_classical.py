"""liftinv.denoising.classical: TV (scikit-image), its weight search, and optional BM3D."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from skimage import data

from liftinv.denoising.classical import (
    bm3d_available,
    bm3d_denoise,
    default_tv_grid,
    tune_tv_weight,
    tv_denoise,
)
from liftinv.metrics import psnr

SIGMA = 25 / 255


@pytest.fixture(scope="module")
def camera():
    """A 96x96 crop of skimage's camera, (1, 1, 96, 96) float32 in [0, 1]."""
    img = data.camera()[200:296, 200:296].astype(np.float32) / 255.0
    return torch.from_numpy(img)[None, None]


@pytest.fixture(scope="module")
def astronaut():
    """A 48x48 colour crop of skimage's astronaut, (1, 3, 48, 48)."""
    img = data.astronaut()[100:148, 200:248].astype(np.float32) / 255.0
    return torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()


def _noisy(x, sigma=SIGMA, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return x + sigma * torch.randn(x.shape, generator=gen)


# ---------------------------------------------------------------------------- TV


def test_tv_improves_psnr(camera):
    z = _noisy(camera)
    out = tv_denoise(z, 0.8 * SIGMA)
    assert float(psnr(out, camera)) > float(psnr(z, camera)) + 3.0


def test_tv_shapes_range_dtype(camera, astronaut):
    z = _noisy(camera)
    for inp in (z, z[0], _noisy(astronaut), torch.cat([z, z]).double()):
        out = tv_denoise(inp, 0.1)
        assert out.shape == inp.shape
        assert out.dtype == torch.float32
        assert out.device == inp.device
        assert out.min() >= 0.0 and out.max() <= 1.0
    assert float(psnr(tv_denoise(_noisy(astronaut), 0.08), astronaut)) > float(
        psnr(_noisy(astronaut), astronaut)
    )


def test_tv_errors(camera):
    bad = camera.clone()
    bad[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match=r"^z: .*NaN"):
        tv_denoise(bad, 0.1)
    with pytest.raises(ValueError, match=r"^z: expected shape"):
        tv_denoise(camera[0, 0], 0.1)
    with pytest.raises(ValueError, match=r"^z: expected shape"):
        tv_denoise(camera[None], 0.1)
    with pytest.raises(TypeError, match=r"^z: "):
        tv_denoise(camera.numpy(), 0.1)
    for w in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=r"^weight: "):
            tv_denoise(camera, w)


# ---------------------------------------------------------------------------- tune_tv_weight


def test_tune_tv_weight_table(camera, astronaut):
    images = [camera[0], astronaut[0].mean(0, keepdim=True)]
    grid = [0.3 * SIGMA, 0.15 * SIGMA, 4 * SIGMA, 0.8 * SIGMA]
    best, table = tune_tv_weight(images, SIGMA, grid=grid, seed=3, max_side=64)
    weights = [w for w, _ in table]
    assert weights == sorted(grid)  # complete and sorted
    assert best in grid
    assert best == max(table, key=lambda row: row[1])[0]
    assert best == pytest.approx(0.8 * SIGMA)  # the extremes are clearly worse
    again = tune_tv_weight(images, SIGMA, grid=grid, seed=3, max_side=64)
    assert again == (best, table)  # noise from a fixed seed


def test_tune_tv_weight_default_grid(camera):
    best, table = tune_tv_weight(camera, SIGMA, max_side=48)  # a batch tensor works too
    assert [w for w, _ in table] == pytest.approx(default_tv_grid(SIGMA))
    assert default_tv_grid(SIGMA)[0] < 0.8 * SIGMA < default_tv_grid(SIGMA)[-1]
    assert best in [w for w, _ in table]


def test_tune_tv_weight_warns_at_grid_edge(camera):
    with pytest.warns(UserWarning, match="end of the grid"):
        tune_tv_weight(camera, SIGMA, grid=[1e-4, 2e-4], max_side=32)


def test_tune_tv_weight_errors(camera):
    bad = camera[0].clone()
    bad[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"^clean_images\[1\]: .*NaN or Inf"):
        tune_tv_weight([camera[0], bad], SIGMA, grid=[0.1])
    with pytest.raises(ValueError, match=r"^clean_images\[0\]: values in"):
        tune_tv_weight([camera[0] + 0.5], SIGMA, grid=[0.1])
    with pytest.raises(ValueError, match=r"^clean_images: no images"):
        tune_tv_weight([], SIGMA)
    with pytest.raises(ValueError, match=r"^sigma: "):
        tune_tv_weight(camera, -0.1)
    with pytest.raises(ValueError, match=r"^grid\[1\]: "):
        tune_tv_weight(camera, SIGMA, grid=[0.1, 0.0])
    with pytest.raises(ValueError, match=r"^max_side: "):
        tune_tv_weight(camera, SIGMA, max_side=0)


# ---------------------------------------------------------------------------- BM3D


def test_bm3d_missing_gives_install_hint(camera, monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # makes `import bm3d` raise ImportError
    assert bm3d_available() is False
    with pytest.raises(ImportError, match=r'pip install "liftinv\[bm3d\]"'):
        bm3d_denoise(camera, SIGMA)


def test_bm3d_beats_noisy(camera):
    pytest.importorskip("bm3d")
    assert bm3d_available() is True
    crop = camera[..., :64, :64]
    z = _noisy(crop)
    out = bm3d_denoise(z, SIGMA)
    assert out.shape == z.shape and out.dtype == torch.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert float(psnr(out, crop)) > float(psnr(z, crop)) + 3.0


def test_bm3d_colour_and_errors(astronaut):
    pytest.importorskip("bm3d")
    z = _noisy(astronaut[..., :32, :32])[0]  # (C, H, W)
    out = bm3d_denoise(z, SIGMA)
    assert out.shape == z.shape and out.min() >= 0.0 and out.max() <= 1.0
    assert float(psnr(out, astronaut[0, :, :32, :32])) > float(psnr(z, astronaut[0, :, :32, :32]))
    with pytest.raises(ValueError, match=r"^z: BM3D takes 1 .* or 3"):
        bm3d_denoise(z[:2], SIGMA)
    with pytest.raises(ValueError, match=r"^sigma: "):
        bm3d_denoise(z, 0.0)
    with pytest.raises(ValueError, match=r"^z: expected shape"):
        bm3d_denoise(z[0], SIGMA)
