"""Input validation shared by the public entry points: one clear error per mistake."""

from __future__ import annotations

from typing import Sequence

import torch


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
    ``like`` is a tensor (usually a network parameter) whose device ``x`` must share.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}; expected (batch, {', '.join(map(str, shape))})"
        )
    if like is not None and x.device != like.device:
        raise ValueError(
            f"{name} is on {x.device} but the network is on {like.device}; "
            f"move one of them (e.g. x.to({str(like.device)!r}))"
        )
    if finite and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or Inf values")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a ``torch.device``; ``None`` means CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but no CUDA device is available")
    return device
