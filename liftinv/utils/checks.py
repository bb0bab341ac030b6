"""Input validation shared by the public entry points: one clear error per mistake.

The toolbox's one home for generic validators (everything else imports them from here):

* :func:`check_tensor`: a tensor of the expected per-sample shape, on the right device, finite;
* :func:`check_image_range`: a finite floating tensor, optionally with values in [0, 1];
* :func:`check_image`: the same for an image batch (C, H, W) or (B, C, H, W);
* :func:`check_positive` / :func:`check_nonneg`: a finite number > 0 / a number >= 0;
* :func:`check_number`: a finite number (or an integer) at or above a bound, the one rule behind
  the command line's numeric options and :class:`~liftinv.restoration.TrainConfig`;
* :func:`check_device_name` / :func:`resolve_device`: ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or
  ``'mps'``, and that name (or ``None``: CUDA when available) as a usable ``torch.device``;
* :class:`OptionError`: a command-line mistake that argparse cannot see (a missing combination
  of options), which ``liftinv`` reports like argparse's own errors, with exit status 2.

Errors name the argument (``"{name}: ..."``) so a caller can tell which input was wrong.  torch is
imported only by the tensor checks, so the command line can validate its options without it.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["check_device_name", "check_image", "check_image_range", "check_nonneg", "check_number",
           "check_positive", "check_tensor", "resolve_device"]

#: Device names liftinv runs on (``cuda:N`` picks one GPU).
DEVICE_PATTERN = re.compile(r"(cpu|cuda(:\d+)?|mps)")


class OptionError(ValueError):
    """Options that parse but do not go together (``liftinv denoise`` with neither ``--sigma`` nor
    ``--checkpoint``): raised by a command before it does any work; exit status 2."""


def check_tensor(
    x: torch.Tensor,
    name: str,
    *,
    shape: Sequence[int] | None = None,
    like: torch.Tensor | None = None,
    finite: bool = True,
) -> None:
    """Raise a ``TypeError``/``ValueError`` naming ``name`` if ``x`` is not usable.

    ``shape`` is the expected per-sample shape (everything after the batch dim);
    ``like`` is a tensor (usually a network parameter) whose device and floating dtype ``x``
    must share.
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}; expected (batch, {', '.join(map(str, shape))})"
        )
    if like is not None and x.dtype != like.dtype and (x.is_floating_point() or like.is_floating_point()):
        raise ValueError(f"{name} is {x.dtype} but the network is {like.dtype}; convert it (x.to({like.dtype}))"
                         + ("" if x.is_floating_point() else ", scaled as the network expects (e.g. 8-bit "
                            "images to [0, 1])"))
    if like is not None and x.device != like.device:
        raise ValueError(
            f"{name} is on {x.device} but the network is on {like.device}; "
            f"move one of them (e.g. x.to({str(like.device)!r}))"
        )
    if x.device.type == "meta":
        raise ValueError(f"{name} is on the meta device, which holds no data: load or create it on 'cpu' or 'cuda'")
    if finite and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or Inf values")


def check_working_dtype(reference, what: str) -> None:
    """Refuse a network in half precision (float16, bfloat16): the lifted objectives, their step sizes
    and the gradient baselines lose their accuracy there (the step sizes overflow and the first steps
    return NaN); ``what`` names the caller (``"fit"``, ``"inversion"``)."""
    import torch

    if reference is not None and reference.dtype in (torch.float16, torch.bfloat16):
        raise TypeError(f"{what}: the network is {reference.dtype}; liftinv trains and inverts in float32 or "
                        "float64: convert it with net.float()")


#: values above this in an image meant for the [0, 1] scale (noise included) mark a 0-255 image
SCALE_LIMIT = 10.0


def check_image_scale(x, label: str) -> None:
    """An image on the [0, 1] scale, noise included (a restoration network's input, the reference of a
    PSNR): an integer tensor (``TypeError``) or values above :data:`SCALE_LIMIT` (a 0-255 image, ``ValueError``) are
    refused, naming ``label`` (``"DFBPNN: x"``, ``"x_true"``)."""
    import torch

    if isinstance(x, torch.Tensor) and not x.is_floating_point():
        raise TypeError(f"{label} has dtype {x.dtype}; expected a floating image in [0, 1] "
                        "(convert a uint8 image with x.float() / 255)")
    peak = float(x.detach().abs().amax()) if isinstance(x, torch.Tensor) and x.numel() else 0.0
    if peak > SCALE_LIMIT:
        raise ValueError(f"{label} has values up to {peak:g}; expected an image "
                         "on the [0, 1] scale (divide a 0-255 image by 255)")


def check_image_range(x: torch.Tensor, name: str = "image", *, unit_range: bool = True) -> torch.Tensor:
    """Check that ``x`` is a floating tensor with finite values in [0, 1]; return it unchanged.

    Raises ``TypeError`` for a non-tensor or an integer tensor, and ``ValueError`` (naming
    ``name``) for NaN/Inf or (when ``unit_range``) values outside [0, 1].
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name}: expected a floating tensor with values in [0, 1], got dtype {x.dtype} "
            "(convert uint8 images with x.float() / 255)"
        )
    if x.numel() == 0:
        return x
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or Inf values")
    if not unit_range:
        return x
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name}: values in [{lo:g}, {hi:g}]; expected values in [0, 1]")
    return x


def check_image(x, name: str, *, unit_range: bool) -> torch.Tensor:
    """Check that ``x`` is a finite float image tensor (C, H, W) or (B, C, H, W).

    With ``unit_range`` the values must also lie in [0, 1]. Raises ``TypeError`` for a
    non-tensor or a non-float tensor and ``ValueError`` for anything else, naming ``name``.
    Returns ``x`` unchanged.
    """
    import torch

    if isinstance(x, torch.Tensor) and x.ndim not in (3, 4):
        raise ValueError(
            f"{name}: expected shape (B, C, H, W) or (C, H, W), got {tuple(x.shape)} "
            f"(add a channel dim to a grayscale (H, W) image with {name.rsplit(': ', 1)[-1]}[None])"
        )
    if isinstance(x, torch.Tensor) and x.numel() == 0:
        raise ValueError(f"{name}: empty tensor of shape {tuple(x.shape)}")
    return check_image_range(x, name, unit_range=unit_range)


def check_positive(value, name: str) -> float:
    """``value`` as a float; ``TypeError``/``ValueError`` naming ``name`` unless finite and > 0."""
    import torch

    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a positive number, got {value!r}")
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a positive number, got {type(value).__name__}") from None
    if not (math.isfinite(out) and out > 0.0):
        raise ValueError(f"{name}: expected a finite number > 0, got {out!r}")
    return out


def check_sigma01(value, name: str = "sigma", *, positive: bool = True) -> float:
    """A noise standard deviation on the [0, 1] scale of the images, as a float: finite, > 0 (>= 0
    with ``positive=False``) and at most 1; a larger value is named as the likely 0-255 mix-up
    (``liftinv.pretrained`` and the command line take 0-255, the Python API [0, 1])."""
    out = check_positive(value, name) if positive else check_number(value, name)
    if out > 1.0:
        raise ValueError(f"{name}: {out:g} is above 1, but noise levels here are on the [0, 1] scale of the "
                         f"images; on the 0-255 scale it is {out:g}/255 = {out / 255:.4g}")
    return out


def check_nonneg(name: str, value) -> None:
    """``ValueError`` unless a real ``value`` is >= 0 (tensors are not checked: they may be learned)."""
    if isinstance(value, numbers.Real) and not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def check_number(value, name: str, *, minimum: float = 0.0, strict: bool = False, integer: bool = False,
                 unit: str = ""):
    """``value`` as a finite float (an int with ``integer``) that is ``>= minimum`` (``> minimum``
    with ``strict``); ``ValueError`` naming ``name`` otherwise, e.g. ``"--lr: expected a finite
    number > 0, got nan"``.  ``unit`` follows the bound in the message (``" seconds"``)."""
    kind = "an integer" if integer else "a finite number"
    expected = f"expected {kind} {'>' if strict else '>='} {minimum:g}{unit}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: {expected}, got {value!r}")
    if integer and not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: {expected}, got {value!r}")
    out = int(value) if integer else float(value)
    if not math.isfinite(out) or out < minimum or (strict and out == minimum):
        raise ValueError(f"{name}: {expected}, got {value!r}")
    return out


def check_device_name(device: str, name: str = "device") -> str:
    """``device`` unless it is not one of ``cpu``, ``cuda``, ``cuda:N``, ``mps`` (no torch needed)."""
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise ValueError(f"{name}: unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N' (one GPU)")
    return device


def resolve_device(device: str | torch.device | None = None, name: str = "device") -> torch.device:
    """``device`` as a ``torch.device``; ``None`` means CUDA when available, else CPU.

    Refuses (``ValueError`` naming ``name``) a device liftinv cannot compute on (``'meta'``, a
    typo such as ``'gpu'``) and a GPU that is not there."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device_name(str(device), name)
    device = torch.device(device)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name}: 'cuda' was requested but no CUDA device is available; use 'cpu'")
        if device.index is not None and device.index >= count:
            raise ValueError(f"{name}: {str(device)!r} was requested but there are only {count} CUDA device(s) "
                             f"(cuda:0 .. cuda:{count - 1})")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name}: 'mps' was requested but no MPS device is available; use 'cpu'")
    return device
