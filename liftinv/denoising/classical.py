"""Classical denoising baselines: total variation (scikit-image) and BM3D (optional package).

Images are float32 torch tensors shaped (B, C, H, W) or (C, H, W). A noisy input ``z`` may leave
[0, 1] (unclipped Gaussian noise does); outputs are clipped to [0, 1], float32, on ``z``'s device
and of ``z``'s shape. The work itself runs on the CPU in NumPy, one image at a time.

- :func:`tv_denoise`: Chambolle's TV denoiser, :func:`skimage.restoration.denoise_tv_chambolle`.
  ``weight`` is its regularisation weight (larger = smoother) on the [0, 1] scale; a colour image is
  denoised channel by channel (``channel_axis``). It stays scikit-image's, the reference baseline
  the published scores use: deepinv's ``TVDenoiser`` has the same minimiser but another solver and
  stopping rule, so its outputs (and tuned scores) differ beyond floating-point noise.
- :func:`tune_tv_weight`: picks ``weight`` by grid search on noisy copies of *training* images.
- :func:`bm3d_denoise`: BM3D from the optional ``bm3d`` package (``pip install "liftinv[bm3d]"``);
  :func:`bm3d_available` says whether it can be imported.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from liftinv.metrics import psnr
from liftinv.utils.checks import check_image, check_image_scale, check_positive, check_sigma01

__all__ = ["bm3d_available", "bm3d_denoise", "default_tv_grid", "tune_tv_weight", "tv_denoise"]

_BM3D_HINT = 'install the optional extra with: pip install "liftinv[bm3d]"'


def _per_image(z: torch.Tensor, name: str, fn) -> torch.Tensor:
    """Apply ``fn`` (an (H, W) or (H, W, C) float64 array -> same shape) to every image of ``z``, a
    finite floating image on the [0, 1] scale (noise may leave it; a 0-255 one is refused: its result
    was clipped to [0, 1] without a word)."""
    check_image(z, name, unit_range=False)
    check_image_scale(z, name)
    single = z.ndim == 3
    batch = z[None] if single else z
    arrays = batch.detach().cpu().double().numpy()
    out = np.empty(arrays.shape, dtype=np.float32)
    for i, a in enumerate(arrays):
        if a.shape[0] == 1:
            out[i, 0] = fn(a[0])
        else:
            out[i] = np.moveaxis(fn(np.moveaxis(a, 0, -1)), -1, 0)
    result = torch.from_numpy(np.clip(out, 0.0, 1.0)).to(z.device)
    return result[0] if single else result


def tv_denoise(z: torch.Tensor, weight: float) -> torch.Tensor:
    """Total-variation denoising with scikit-image's ``denoise_tv_chambolle``, image by image.

    Args:
        z: noisy images, (B, C, H, W) or (C, H, W), finite floats (values may leave [0, 1]).
        weight: TV weight > 0 on the [0, 1] intensity scale; larger is smoother. About
            ``0.8 * sigma`` suits natural images; :func:`tune_tv_weight` picks it from data.

    Returns:
        The denoised images, float32, clipped to [0, 1], same shape and device as ``z``.
        Colour images are denoised per channel (``channel_axis=-1``).

    Raises:
        TypeError / ValueError naming ``z`` or ``weight``: wrong dims, NaN/Inf, weight <= 0.
    """
    from skimage.restoration import denoise_tv_chambolle

    weight = check_positive(weight, "weight")

    def fn(a: np.ndarray) -> np.ndarray:
        return denoise_tv_chambolle(a, weight=weight, channel_axis=-1 if a.ndim == 3 else None)

    return _per_image(z, "z", fn)


def default_tv_grid(sigma: float, num: int = 10) -> list[float]:
    """The default weights tried by :func:`tune_tv_weight`: ``sigma * geomspace(0.4, 4, num)``."""
    sigma = check_sigma01(sigma)
    return [float(w) for w in sigma * np.geomspace(0.4, 4.0, num)]


def _as_image_list(clean_images, name: str) -> list[torch.Tensor]:
    """A tensor (B, C, H, W) / (C, H, W) or a sequence of (C, H, W) tensors -> list of (C, H, W)."""
    if isinstance(clean_images, torch.Tensor):
        check_image(clean_images, name, unit_range=True)
        return list(clean_images) if clean_images.ndim == 4 else [clean_images]
    if not isinstance(clean_images, Sequence) or isinstance(clean_images, (str, bytes)):
        raise TypeError(
            f"{name}: expected a (B, C, H, W) tensor or a list of (C, H, W) tensors, "
            f"got {type(clean_images).__name__}"
        )
    if len(clean_images) == 0:
        raise ValueError(f"{name}: no images given")
    images = []
    for i, img in enumerate(clean_images):
        check_image(img, f"{name}[{i}]", unit_range=True)
        if img.ndim != 3:
            raise ValueError(f"{name}[{i}]: expected shape (C, H, W), got {tuple(img.shape)}")
        images.append(img)
    return images


def _center_crop(img: torch.Tensor, max_side: int) -> torch.Tensor:
    h, w = img.shape[-2:]
    ch, cw = min(h, max_side), min(w, max_side)
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[..., top : top + ch, left : left + cw]


def tune_tv_weight(
    clean_images,
    sigma: float,
    grid: Sequence[float] | None = None,
    seed: int = 0,
    max_side: int = 256,
) -> tuple[float, list[tuple[float, float]]]:
    """Choose the TV weight that maximises the mean PSNR on noisy copies of *training* images.

    Pass training images only, never the images you will report scores on: a weight tuned on
    the test images inflates the TV baseline. Each image is centre-cropped to at most
    ``max_side x max_side`` (to keep the search fast), Gaussian noise of standard deviation
    ``sigma`` (on the [0, 1] scale) is added once by deepinv's ``GaussianNoise`` with the
    generator ``torch.Generator().manual_seed(seed)`` (no clipping), and every weight of ``grid``
    is scored by the mean over images of :func:`liftinv.metrics.psnr` of :func:`tv_denoise`. A
    warning is issued when the best weight is at an end of the grid (widen the grid).

    Args:
        clean_images: clean training images in [0, 1]: a (B, C, H, W) tensor, or a list of
            (C, H, W) tensors of any sizes (e.g. ``liftinv.data.load_embedded("train")``).
        sigma: noise standard deviation on the [0, 1] scale (e.g. 25/255).
        grid: weights to try; default :func:`default_tv_grid` (``sigma * geomspace(0.4, 4, 10)``).
            Sorted and de-duplicated before use.
        seed: seed of the noise.
        max_side: largest crop side.

    Returns:
        ``(best_weight, table)``: ``best_weight`` is the grid point of highest mean PSNR (the
        smallest such weight on ties); ``table`` lists ``(weight, mean_psnr)`` for every grid
        point, by increasing weight.

    Example:
        >>> from liftinv.data import load_embedded
        >>> weight, table = tune_tv_weight(load_embedded("train"), sigma=25 / 255)  # doctest: +SKIP
    """
    import deepinv as dinv

    sigma = check_sigma01(sigma)
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1:
        raise ValueError(f"max_side: expected a positive int, got {max_side!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    images = [
        _center_crop(img.detach().cpu().float(), max_side)
        for img in _as_image_list(clean_images, "clean_images")
    ]
    if grid is None:
        weights = default_tv_grid(sigma)
    else:
        if isinstance(grid, torch.Tensor):
            grid = grid.tolist()
        try:
            raw = list(grid)
        except TypeError:
            raise TypeError(
                f"grid: expected a sequence of positive weights, got {type(grid).__name__}"
            ) from None
        if not raw:
            raise ValueError("grid: no weights given")
        weights = sorted({check_positive(w, f"grid[{i}]") for i, w in enumerate(raw)})

    noise = dinv.physics.GaussianNoise(sigma=sigma, rng=torch.Generator().manual_seed(seed))
    noisy = [noise(img) for img in images]

    table = []
    for w in weights:
        scores = [float(psnr(tv_denoise(z, w), x)) for z, x in zip(noisy, images)]
        table.append((w, sum(scores) / len(scores)))
    best_weight, _ = max(table, key=lambda row: row[1])  # first maximum = smallest weight
    if len(table) > 1 and best_weight in (table[0][0], table[-1][0]):
        warnings.warn(
            f"tune_tv_weight: the best weight {best_weight:g} is at an end of the grid "
            f"[{table[0][0]:g}, {table[-1][0]:g}]; widen the grid",
            stacklevel=2,
        )
    return best_weight, table


def bm3d_available() -> bool:
    """True when the optional ``bm3d`` package can be imported."""
    try:
        import bm3d  # noqa: F401
    except ImportError:
        return False
    return True


def bm3d_denoise(z: torch.Tensor, sigma: float) -> torch.Tensor:
    """BM3D denoising with the optional ``bm3d`` package (Mäkinen, Azzari and Foi), image by image.

    Grayscale images (C = 1) go through ``bm3d.bm3d(img, sigma_psd=sigma)``, colour images
    (C = 3) through ``bm3d.bm3d_rgb(img, sigma_psd=sigma)`` (block matching on the luminance of
    an opponent colour transform). Both use the package's default profile (``"np"``).
    It is slow (seconds per 512x512 image on a CPU core).

    Args:
        z: noisy images, (B, C, H, W) or (C, H, W) with C = 1 or 3, finite floats.
        sigma: noise standard deviation on the [0, 1] scale (e.g. 25/255), as known or estimated.

    Returns:
        The denoised images, float32, clipped to [0, 1], same shape and device as ``z``.

    Raises:
        ImportError: the ``bm3d`` package is missing (``pip install "liftinv[bm3d]"``).
        TypeError / ValueError naming ``z`` or ``sigma``: wrong dims or channel count, NaN/Inf,
            sigma <= 0.
    """
    try:
        import bm3d
    except ImportError as err:
        raise ImportError(f"bm3d_denoise needs the optional 'bm3d' package; {_BM3D_HINT}") from err

    sigma = check_sigma01(sigma)
    check_image(z, "z", unit_range=False)
    channels = z.shape[-3]
    if channels not in (1, 3):
        raise ValueError(
            f"z: BM3D takes 1 (grayscale) or 3 (RGB) channels, got {channels} "
            f"(shape {tuple(z.shape)})"
        )

    def fn(a: np.ndarray) -> np.ndarray:
        if a.ndim == 2:
            return bm3d.bm3d(a, sigma_psd=sigma)
        return bm3d.bm3d_rgb(a, sigma_psd=sigma)

    return _per_image(z, "z", fn)
