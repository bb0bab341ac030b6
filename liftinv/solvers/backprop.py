"""Backpropagation (Adam) over the very same network, with the lifted solvers' interface.

The loss is the network loss of :class:`~liftinv.lifting.LiftedProblem`, i.e. the
lifted Bregman penalty of the last activation (squared error for the identity,
cross-entropy for softmax), so both trainers minimise the same quantity.
"""

from __future__ import annotations

import torch

from ..lifting.problem import LiftedProblem
from ..models.network import LiftedNetwork


class Backprop:
    """Adam on :math:`\\frac1s\\sum_i B_{\\sigma_L}(y^i, N_\\Theta(x_0^i))` by autograd.

    ``step_batch`` returns the batch loss under the keys the lifted solvers use
    (``lifted`` equals the loss, ``violation`` is 0: there are no auxiliaries).
    """

    def __init__(
        self,
        model: LiftedProblem | LiftedNetwork,
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
    ) -> None:
        self.problem = model if isinstance(model, LiftedProblem) else LiftedProblem(model)
        self.network = self.problem.network
        self.optimizer = torch.optim.Adam(
            self.network.parameters(), lr=lr, betas=betas, weight_decay=weight_decay
        )

    def prepare(self, n_samples: int) -> None:
        """Nothing to prepare: backprop keeps no per-sample state."""

    def step_batch(self, x0: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None) -> dict:
        self.problem.check_batch(x0, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.problem.loss(x0, y)
        loss.backward()
        self.optimizer.step()
        return {"lifted": float(loss.detach()), "violation": 0.0}

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)
