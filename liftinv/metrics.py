"""Image-quality metrics: one PSNR and one SSIM convention for the whole toolbox.

Both functions take an estimate ``x`` and a reference ``ref`` shaped (B, C, H, W) or (C, H, W),
float tensors with the reference in [0, 1], and return one score per image: a tensor of shape
(B,), or a 0-dim tensor for a single (C, H, W) image. Scores are computed without gradients.

PSNR
    ``10 log10(1 / MSE)`` with data_range 1, the MSE taken over all channels and pixels of an
    image. ``x`` is clamped to [0, 1] first (``clip=True``, the default), as a saved image would
    be. Identical images score ``inf`` (deepinv's ``PSNR`` adds 1e-8 to the MSE and reports
    80 dB instead; otherwise the two agree on estimates within [0, 1], while deepinv does not clamp
    one that leaves it: a noisy input scored 20.19 dB here and 19.97 there in a review's check).

SSIM
    :data:`SSIM_CONVENTION`: scikit-image's ``structural_similarity`` with the settings of
    Wang et al. (2004): an 11x11 Gaussian window of sigma 1.5, population (not sample)
    covariances, data_range 1. Colour images are scored per channel and averaged
    (``channel_axis``). This differs from deepinv's ``SSIM`` (torchmetrics), so every table
    should print :data:`SSIM_CONVENTION` next to its SSIM column.
"""

from __future__ import annotations

import torch

from .utils.checks import SCALE_LIMIT, check_image  # check_image re-exported: liftinv.metrics.check_image

__all__ = ["SSIM_CONVENTION", "check_image", "psnr", "ssim"]

SSIM_CONVENTION = (
    "SSIM: scikit-image structural_similarity, Gaussian window sigma=1.5, "
    "data_range=1 (Wang et al. 2004)"
)

# scikit-image's window for gaussian_weights=True, sigma=1.5 (truncate=3.5): 2*int(3.5*1.5+0.5)+1.
_SSIM_SIGMA = 1.5
_SSIM_WIN = 11


def _check_pair(x, ref, unit_ref: bool = True, clip: bool = True) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validate an (estimate, reference) pair; return them as 4-D tensors and a 'was 3-D' flag.
    With ``clip`` and ``unit_ref``, an ``x`` with values above :data:`SCALE_LIMIT` is refused: clamped
    to [0, 1] a 0-255 image scores as a white one (4.8 dB for a perfect estimate)."""
    check_image(x, "x", unit_range=False)
    check_image(ref, "ref", unit_range=unit_ref)
    peak = float(x.detach().abs().amax()) if clip and unit_ref else 0.0  # (a sync on a GPU: only when it counts)
    if peak > SCALE_LIMIT:
        raise ValueError(f"x has values up to {peak:g} but ref is on the [0, 1] scale: clamped to [0, 1] first, an "
                         "estimate on the 0-255 scale scores as a white image; divide it by 255 (or, to score a "
                         "diverged estimate as it is, pass clip=False)")
    if x.shape != ref.shape:
        raise ValueError(
            f"x has shape {tuple(x.shape)} but ref has shape {tuple(ref.shape)}; they must be equal"
        )
    if x.device != ref.device:
        raise ValueError(f"x is on {x.device} but ref is on {ref.device}; move one of them")
    single = x.ndim == 3
    if single:
        x, ref = x[None], ref[None]
    return x.detach(), ref.detach(), single


@torch.no_grad()
def psnr(x: torch.Tensor, ref: torch.Tensor, *, clip: bool = True, unit_ref: bool = True) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, one value per image, with data_range 1.

    ``PSNR = 10 log10(1 / MSE)``, the MSE being the mean over the channels and pixels of each
    image. Identical images give ``inf``.

    Args:
        x: estimate, (B, C, H, W) or (C, H, W), finite floats.
        ref: reference (clean) image of the same shape, values in [0, 1].
        clip: clamp ``x`` to [0, 1] before scoring (default ``True``), so an estimate is scored
            as the image it would be once saved. Pass ``False`` to score the raw values.
        unit_ref: require ``ref`` in [0, 1] (default). Pass ``False`` (with ``clip=False``) to
            compare signals that leave [0, 1], e.g. a recovered noisy input against the true
            one; the score is then ``-10 log10(MSE)``, relative to a data range of 1.

    Returns:
        A float32 tensor of shape (B,) on ``x``'s device, or a 0-dim tensor for (C, H, W) input.

    Raises:
        TypeError: ``x`` or ``ref`` is not a floating tensor.
        ValueError: wrong or mismatched shapes, NaN/Inf, ``ref`` outside [0, 1], or (with ``clip``
            and ``unit_ref``) ``x`` above 10, on the 0-255 scale.
    """
    x, ref, single = _check_pair(x, ref, unit_ref, clip)
    if clip:
        x = x.clamp(0.0, 1.0)
    dtype = torch.promote_types(torch.promote_types(x.dtype, ref.dtype), torch.float32)  # float64 stays
    mse = (x.to(dtype) - ref.to(dtype)).square().mean(dim=(1, 2, 3))
    out = (-10.0 * torch.log10(mse)).float()  # data_range 1; mse == 0 gives +inf
    return out[0] if single else out


@torch.no_grad()
def ssim(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Structural similarity, one value per image, in the convention of :data:`SSIM_CONVENTION`.

    Computed with :func:`skimage.metrics.structural_similarity` (``gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1.0``, the settings of Wang et al. 2004);
    a colour image (C > 1) is scored per channel and averaged (``channel_axis``). ``x`` is
    clamped to [0, 1] first. Runs on the CPU in float64; the result comes back to ``x``'s device.

    Args:
        x: estimate, (B, C, H, W) or (C, H, W), finite floats.
        ref: reference (clean) image of the same shape, values in [0, 1], at least 11x11.

    Returns:
        A float32 tensor of shape (B,), or a 0-dim tensor for (C, H, W) input.

    Raises:
        TypeError: ``x`` or ``ref`` is not a floating tensor.
        ValueError: wrong or mismatched shapes, images smaller than the 11x11 window, NaN/Inf,
            ``ref`` outside [0, 1], ``x`` above 10 (on the 0-255 scale).
    """
    from skimage.metrics import structural_similarity

    x, ref, single = _check_pair(x, ref)
    height, width = x.shape[-2:]
    if min(height, width) < _SSIM_WIN:
        raise ValueError(
            f"x and ref are {height}x{width}; SSIM ({SSIM_CONVENTION}) needs images of at least "
            f"{_SSIM_WIN}x{_SSIM_WIN}"
        )
    xs = x.clamp(0.0, 1.0).cpu().double().numpy()
    refs = ref.cpu().double().numpy()
    scores = []
    for xi, ri in zip(xs, refs):
        color = xi.shape[0] > 1
        scores.append(
            structural_similarity(
                xi if color else xi[0],
                ri if color else ri[0],
                data_range=1.0,
                gaussian_weights=True,
                sigma=_SSIM_SIGMA,
                use_sample_covariance=False,
                channel_axis=0 if color else None,
            )
        )
    out = torch.tensor(scores, dtype=torch.float32, device=x.device)
    return out[0] if single else out
