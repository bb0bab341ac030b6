"""Per-sample storage of the auxiliaries between visits (true lifted BCD, ``aux='keep'``).

Memory: ``n_samples * sum_l prod(state_shapes[l])`` numbers for the hidden states
``l = 1..L-1``, in the dtype and on the device of the network.
"""

from __future__ import annotations

import math

import torch

from ..models.network import LiftedNetwork


class AuxMemory:
    """Hidden states of every sample, filled on first visit and updated after each step."""

    def __init__(self, network: LiftedNetwork, n_samples: int) -> None:
        p = next(network.parameters())
        self.buffers = [
            torch.zeros((n_samples,) + shape, device=p.device, dtype=p.dtype)
            for shape in network.state_shapes[1:-1]
        ]
        self.seen = torch.zeros(n_samples, dtype=torch.bool, device=p.device)

    @property
    def numel(self) -> int:
        return sum(math.prod(b.shape) for b in self.buffers)

    def has(self, index: torch.Tensor) -> bool:
        """True when every sample of ``index`` has stored auxiliaries."""
        return bool(self.seen[index].all())

    def load(self, index: torch.Tensor) -> list[torch.Tensor]:
        return [b[index] for b in self.buffers]

    @torch.no_grad()
    def store(self, index: torch.Tensor, states: list[torch.Tensor]) -> None:
        for b, s in zip(self.buffers, states):
            b[index] = s
        self.seen[index] = True
