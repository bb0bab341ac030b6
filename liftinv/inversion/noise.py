"""Noise on the features a network is inverted from."""

from __future__ import annotations

import math

import torch


def noisy_code(code: torch.Tensor, level: float, seed: int, activation) -> torch.Tensor:
    """Code plus Gaussian noise of relative level ``level`` (std = level x rms of each code, drawn
    once from ``seed``), projected onto the range of the layer's output ``activation`` (its
    ``project``: a possible output of that layer)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(code.shape, generator=g).to(code)
    rms = code.flatten(1).norm(dim=1).view(-1, *([1] * (code.dim() - 1))) / math.sqrt(code[0].numel())
    noisy = code + level * rms * noise
    return activation.project(noisy)
