r"""Blur physics: kernels by name, array or file, deepinv's circular ``Blur`` and Gaussian noise.

The forward model is :math:`y = k * x + n`, :math:`n\sim\mathcal N(0,\sigma^2)`, with deepinv's
:class:`deepinv.physics.Blur` (``padding='circular', use_fft=True``: the operator and its adjoint
are exact for any image size and kernel shape, and the model is diagonalised by the 2-D FFT) and
deepinv's :class:`~deepinv.physics.GaussianNoise`. :class:`CircularBlur` adds the transfer function
:math:`\hat h` from deepinv's :func:`deepinv.physics.functional.filter_fft` (the very filter
spectrum deepinv's FFT convolution multiplies by, so the FFT-based methods use exactly the same
:math:`A`), the norm :math:`\|A\|^2 = \max|\hat h|^2`, and :meth:`CircularBlur.blur_fft`, the
same operator as a size-bound :class:`deepinv.physics.BlurFFT` (exact ``prox_l2`` for deepinv's
solvers).

Kernel specifications (command line and Python):

* ``gaussian:S`` (std S pixels; deepinv's ``gaussian_blur``, ``2 floor(S/0.3 + 1) + 1`` pixels wide,
  about 6.7S + 3: 15 for S = 2);
* ``box:N`` (uniform N x N);
* ``motion:L:ANGLE`` (a line of length L pixels at ANGLE degrees, anti-aliased);
* a ``.npy`` file or an image file (grayscale), or a 2-D array/tensor.

Every kernel is normalised to sum 1 (a blur keeps the mean brightness); a kernel whose sum is not a
positive number is rejected, and an array or tensor passed from Python whose sum is not 1 is
normalised with a warning (data blurred by it as given are brighter by that sum).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch

KERNEL_HELP = "gaussian:STD, box:SIZE or motion:LENGTH[:ANGLE] (degrees, default 0)"
#: The largest kernel side built from a specification (a larger one is a typo, not a blur).
MAX_KERNEL_SIZE = 1025
#: Files :func:`parse_kernel` reads as kernels: a NumPy array or a grayscale image.
KERNEL_FILE_EXTENSIONS = frozenset({".npy", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})


def _check_size(kind: str, what: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"kernel {kind}: the {what} must be a finite number in [{low:g}, {high:g}], got {value}")


def gaussian_kernel(std: float) -> torch.Tensor:
    import deepinv as dinv

    if not std > 0:
        raise ValueError(f"kernel gaussian: the standard deviation must be > 0, got {std}")
    # deepinv's width 2 floor(S/0.3 + 1) + 1 stays within MAX_KERNEL_SIZE
    _check_size("gaussian", "standard deviation", std, 0, 0.3 * ((MAX_KERNEL_SIZE - 1) // 2 - 1))
    return dinv.physics.functional.gaussian_blur(sigma=(float(std), float(std)))[0, 0]


def box_kernel(size: int) -> torch.Tensor:
    if size < 1:
        raise ValueError(f"kernel box: the size must be >= 1, got {size}")
    _check_size("box", "size", size, 1, MAX_KERNEL_SIZE)
    return torch.full((size, size), 1.0 / size**2)


def motion_kernel(length: float, angle: float) -> torch.Tensor:
    """A straight motion path of ``length`` pixels at ``angle`` degrees (sampled densely)."""
    if not length >= 1:
        raise ValueError(f"kernel motion: the length must be >= 1, got {length}")
    _check_size("motion", "length", length, 1, MAX_KERNEL_SIZE)
    _check_size("motion", "angle", angle, -1e6, 1e6)
    size = int(math.ceil(length)) // 2 * 2 + 1
    k = np.zeros((size, size))
    c = size // 2
    t = np.linspace(-(length - 1) / 2, (length - 1) / 2, 8 * size)
    xs, ys = c + t * math.cos(math.radians(angle)), c - t * math.sin(math.radians(angle))
    for x, y in zip(xs, ys):  # bilinear splatting of each sample
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            if 0 <= y0 + dy < size and 0 <= x0 + dx < size:
                k[y0 + dy, x0 + dx] += w
    return torch.from_numpy(k / k.sum()).float()


def parse_kernel(spec: str) -> torch.Tensor:
    """A kernel from ``'gaussian:2.0'``, ``'box:5'``, ``'motion:9:30'`` or a file path."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"kernel: expected {KERNEL_HELP} or a file, got {spec!r}")
    if Path(spec).exists() or Path(spec).suffix.lower() in KERNEL_FILE_EXTENSIONS:
        return load_kernel_file(spec)
    name, _, rest = spec.partition(":")
    args = rest.split(":") if rest else []
    try:
        if name == "gaussian" and len(args) == 1:
            return normalise_kernel(gaussian_kernel(float(args[0])))
        if name == "box" and len(args) == 1:
            return normalise_kernel(box_kernel(int(args[0])))
        if name == "motion" and len(args) in (1, 2):
            return normalise_kernel(motion_kernel(float(args[0]), float(args[1]) if len(args) == 2 else 0.0))
    except ValueError as exc:
        if "kernel" in str(exc):
            raise
        raise ValueError(f"kernel {spec!r}: bad number ({exc}); expected {KERNEL_HELP}") from None
    raise ValueError(f"kernel {spec!r}: expected {KERNEL_HELP}, or an existing .npy/image file")


def load_kernel_file(path: str | Path) -> torch.Tensor:
    """A kernel from a ``.npy`` array or a grayscale image file, normalised to sum 1."""
    from ..utils.files import check_input_file, plain_reason

    path = check_input_file(path, "kernel file")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:
            reason = plain_reason(path) or f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            raise ValueError(f"kernel file {str(path)!r} is not a NumPy .npy array ({reason}); "
                             "write one with numpy.save") from None
        if not isinstance(arr, np.ndarray) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) \
                or np.iscomplexobj(arr):
            raise ValueError(f"kernel file {str(path)!r}: expected a real 2-D array, got dtype {arr.dtype}")
    else:
        from ..data import load_image

        arr = load_image(path, color=False)[0].numpy()
    return normalise_kernel(arr, name=f"kernel file {str(path)!r}")


def normalise_kernel(kernel, name: str = "kernel", *, warn_sum: bool = False) -> torch.Tensor:
    """``kernel`` as a float32 (h, w) tensor, non-negative, summing to 1; clear errors otherwise; ``warn_sum``: a
    ``UserWarning`` when the given sum is not 1 (to 1e-3)."""
    k = torch.as_tensor(np.asarray(kernel) if not isinstance(kernel, torch.Tensor) else kernel).detach()
    k = k.to(torch.float32).cpu()
    while k.dim() > 2 and k.shape[0] == 1:
        k = k[0]
    if k.dim() != 2 or min(k.shape) < 1:
        raise ValueError(f"{name}: expected a 2-D array (h, w), got shape {tuple(k.shape)}")
    if not torch.isfinite(k).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    if float(k.min()) < -1e-6 * float(k.abs().max()):  # (rounding of a fitted PSF is cleared below)
        raise ValueError(f"{name}: a blur kernel must be non-negative (a point-spread function), got a minimum of "
                         f"{float(k.min()):.4g}; if it is a blur resampled with ringing (cubic interpolation), "
                         "clip it (np.clip(k, 0, None)); a sharpening or edge filter is not a blur")
    k = k.clamp_min(0.0)
    total = float(k.sum())
    if not total > 1e-8:
        raise ValueError(f"{name}: must sum to a positive number (it is normalised to sum 1), got sum {total:.4g}")
    if warn_sum and abs(total - 1.0) > 1e-3:
        warnings.warn(f"the kernel sums to {total:.4g}; liftinv normalises kernels to sum 1 (a blur keeps the "
                      f"mean brightness): data blurred by this kernel as given are {total:.4g} times brighter, "
                      "so divide them by that sum, or pass the normalised kernel", UserWarning, stacklevel=4)
    return k / total


def as_kernel(kernel) -> torch.Tensor:
    """A spec string, file path, array or tensor -> normalised (h, w) kernel; an array or tensor whose
    sum is not 1 (to 1e-3) is normalised with a ``UserWarning``."""
    if isinstance(kernel, (str, Path)):
        return parse_kernel(str(kernel))
    return normalise_kernel(kernel, warn_sum=True)


def check_kernel_fits(kernel: torch.Tensor, image_shape, name: str = "image") -> None:
    """Reject a kernel larger than the image (circular blur would alias it)."""
    h, w = image_shape[-2:]
    if kernel.shape[-2] > h or kernel.shape[-1] > w:
        raise ValueError(f"kernel of size {tuple(kernel.shape[-2:])} is larger than the {name} "
                         f"({h}x{w}); use a smaller kernel or a larger image")


class CircularBlur(torch.nn.Module):
    r"""deepinv's ``Blur(filter, padding='circular', use_fft=True)`` plus its transfer function.

    ``A``/``A_adjoint``: the blur and its adjoint (deepinv). ``transfer(H, W)``: the complex
    :math:`\hat h` with :math:`A x = \mathrm{IFFT}(\hat h\,\mathrm{FFT}(x))` (deepinv's
    ``filter_fft``), cached per size. ``norm_sq(H, W)``: :math:`\max|\hat h|^2` (exact, unlike a
    power iteration). ``blur_fft(img_size)``: the same operator as a deepinv ``BlurFFT``.
    The same kernel blurs every channel. (The FFT convolution rather than deepinv's direct one:
    the latter's circular adjoint fails for a kernel side below 3, and it is slower on CPU.)
    """

    def __init__(self, kernel, channels: int | None = None) -> None:
        super().__init__()
        from deepinv.physics import Blur

        k = as_kernel(kernel)
        self.register_buffer("kernel", k)
        self.channels = channels
        self.physics = Blur(filter=k[None, None].clone(), padding="circular", use_fft=True)
        self._cache: dict = {}

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"blur: expected images shaped (B, C, H, W), got {tuple(x.shape)}")
        if self.channels is not None and x.shape[1] != self.channels:
            raise ValueError(f"blur: the operator was built for {self.channels} channel(s), "
                             f"got an image with {x.shape[1]}")
        check_kernel_fits(self.kernel, x.shape)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.physics.A(x)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y)
        return self.physics.A_adjoint(y)

    def transfer(self, h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
        from deepinv.physics.functional import filter_fft

        device = torch.device(device or self.kernel.device)
        # the kernel's identity and version in the key: load_state_dict (or any in-place change)
        # of a kernel of the same shape must not leave its old spectrum here
        key = (h, w, str(device), dtype, self.kernel.data_ptr(), self.kernel._version)
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[4:] == key[4:]}  # drop old kernels
            check_kernel_fits(self.kernel, (h, w))
            k = self.kernel.to(device=device, dtype=dtype)[None, None]
            self._cache[key] = filter_fft(k, (h, w), real_fft=False, dims=(-2, -1))[0, 0]
        return self._cache[key]

    def norm_sq(self, h: int, w: int) -> float:
        r""":math:`\|A\|^2 = \max|\hat h|^2` on an ``h x w`` grid."""
        return float(self.transfer(h, w).abs().max() ** 2)

    def blur_fft(self, img_size, device=None):
        """This operator on ``img_size = (C, H, W)`` images as a deepinv ``BlurFFT``
        (``DecomposablePhysics``: exact ``prox_l2`` and ``A_dagger`` for deepinv's solvers)."""
        from deepinv.physics import BlurFFT

        img_size = tuple(int(n) for n in img_size)
        check_kernel_fits(self.kernel, img_size)
        device = torch.device(device or self.kernel.device)
        return BlurFFT(img_size=img_size, filter=self.kernel[None, None].to(device), device=device)

    def _apply(self, fn, recurse=True):  # keep deepinv's buffers on the module's device
        out = super()._apply(fn, recurse)
        self._cache = {}
        return out


def blur_physics(kernel, sigma: float, device="cpu", seed: int | None = None):
    """deepinv ``Blur`` (circular, FFT) with ``GaussianNoise(sigma)`` (sigma on the [0, 1] scale:
    a finite number in [0, 1], checked; 25 was taken as 25 times the images' range)
    drawing from its own generator on ``device``, seeded with ``seed`` when given (reseed it per
    call with ``physics(x, seed=...)``)."""
    import deepinv as dinv

    from ..utils.checks import check_sigma01

    sigma = check_sigma01(sigma, positive=False)
    k = as_kernel(kernel)
    rng = torch.Generator(device)
    if seed is not None:
        rng.manual_seed(seed)
    return dinv.physics.Blur(filter=k[None, None].to(device), padding="circular", use_fft=True, device=device,
                             noise_model=dinv.physics.GaussianNoise(sigma=sigma, rng=rng))


def blurred_test_set(images, kernel, sigma: float, seed: int = 2024) -> list[torch.Tensor]:
    """Each image blurred (circular) plus noise drawn once from ``seed``: every method sees
    the very same degraded images.  ``images``: clean (C, H, W) images, floats in [0, 1] (checked:
    0-255 and integer images were blurred as given)."""
    from ..utils.checks import check_image

    physics = blur_physics(kernel, sigma, seed=seed)
    images = list(images)
    for i, img in enumerate(images):
        check_image(img, f"blurred_test_set: images[{i}]", unit_range=True)
        if img.dim() != 3:
            raise ValueError(f"blurred_test_set: images[{i}] has shape {tuple(img.shape)}; expected one (C, H, W) "
                             "image per entry (a batch (B, C, H, W) goes in as list(batch))")
    out = []
    for img in images:
        check_kernel_fits(as_kernel(kernel), img.shape)
        out.append(physics(img[None])[0])
    return out
