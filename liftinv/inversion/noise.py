"""Noise on the features a network is inverted from."""

from __future__ import annotations

import math

import torch


def noisy_code(code: torch.Tensor, level: float, seed: int) -> torch.Tensor:
    """Code plus Gaussian noise of relative level ``level`` (std = level x rms of each code),
    projected onto the ReLU domain :math:`\\ge 0` (drawn once from ``seed``)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(code.shape, generator=g).to(code)
    rms = code.flatten(1).norm(dim=1).view(-1, *([1] * (code.dim() - 1))) / math.sqrt(code[0].numel())
    return (code + level * rms * noise).clamp_min(0)
