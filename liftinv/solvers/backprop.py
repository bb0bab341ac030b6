"""Backpropagation (Adam) over the very same network, with the lifted solvers' interface.

The loss is the network loss of :class:`~liftinv.lifting.LiftedProblem`, i.e. the
lifted Bregman penalty of the last activation (squared error for the identity,
cross-entropy for softmax), so both trainers minimise the same quantity.
"""

from __future__ import annotations

import torch

from ..distributed import all_reduce_scalars, is_distributed, world_size
from ..lifting.problem import LiftedProblem
from ..models.network import LiftedNetwork
from ..utils.checks import check_tensor
from .strategies import Adam, check_numbers


class SquaredError:
    """The loss of a plain ``nn.Module`` (e.g. deepinv's DnCNN) in the lifted problems'
    convention: :math:`\\tfrac12\\|f(x) - y\\|^2` summed per sample."""

    def __init__(self, network: torch.nn.Module) -> None:
        self.network = network

    def check_batch(self, x0: torch.Tensor, y: torch.Tensor) -> None:
        like = next(self.network.parameters())
        check_tensor(x0, "input x0", like=like)
        check_tensor(y, "target y", like=like)

    def sample_losses(self, x0: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.network(x0)
        if out.shape != y.shape:
            raise ValueError(f"network output {tuple(out.shape)} does not match target {tuple(y.shape)}")
        return 0.5 * ((out - y) ** 2).flatten(1).sum(1), out

    def loss(self, x0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.sample_losses(x0, y)[0].mean()


class _SampleLosses(torch.nn.Module):
    """The per-sample losses as a module's forward, for DistributedDataParallel."""

    def __init__(self, problem) -> None:
        super().__init__()
        self.problem = problem
        self.network = problem.network  # registers the parameters

    def forward(self, x0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.problem.sample_losses(x0, y)[0]


class Backprop:
    """Adam on :math:`\\frac1s\\sum_i B_{\\sigma_L}(y^i, N_\\Theta(x_0^i))` by autograd.

    ``model`` is a lifted problem or network, or any ``nn.Module`` (trained on
    :class:`SquaredError`, the same loss as an identity last layer).  Frozen parameters
    (``requires_grad=False``) are not handed to Adam and stay unchanged.

    ``step_batch`` returns the batch loss under the keys the lifted solvers use
    (``lifted`` equals the loss, ``violation`` is 0: there are no auxiliaries).
    """

    def __init__(
        self,
        model: LiftedProblem | LiftedNetwork | torch.nn.Module,
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
    ) -> None:
        if not isinstance(model, (LiftedProblem, torch.nn.Module)):
            raise TypeError(f"Backprop trains a network (a torch.nn.Module or a LiftedProblem), got "
                            f"{type(model).__name__}")
        if isinstance(model, LiftedProblem):
            self.problem = model
        elif isinstance(model, LiftedNetwork):
            self.problem = LiftedProblem(model)
        else:
            self.problem = SquaredError(model)
        self.network = self.problem.network
        check_numbers("Backprop", lr=lr, weight_decay=weight_decay)
        trainable = [p for p in self.network.parameters() if p.requires_grad]  # frozen ones stay
        if not trainable:  # (torch's "optimizer got an empty parameter list")
            raise ValueError(f"Backprop: the network ({type(self.network).__name__}) has no trainable parameters "
                             "(none, or all with requires_grad=False): nothing to train")
        self.optimizer = torch.optim.Adam(trainable, lr=lr, betas=betas, weight_decay=weight_decay)

    @property
    def param_groups(self) -> list[dict]:
        """Adam's parameter groups (``lr``, ``betas`` ...), like a lifted solver's."""
        return self.optimizer.param_groups

    @property
    def config(self) -> dict:
        """The trainer's settings as plain (JSON-able) data, in the form of the lifted solvers'
        ``config`` (``{'solver': 'Backprop', 'weights': {'name': 'adam', 'lr': ...}}``)."""
        group = self.optimizer.param_groups[0]
        adam = Adam(**{k: group[k] for k in ("lr", "betas", "eps", "weight_decay")})
        return {"solver": type(self).__name__, "weights": adam.to_dict()}

    def prepare(self, n_samples: int) -> None:
        """Backprop keeps no per-sample state; in data-parallel training the loss is
        wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` (which copies rank
        0's weights to every rank and all-reduces the gradients during backward)."""
        self._ddp = None
        if is_distributed():
            self._ddp = torch.nn.parallel.DistributedDataParallel(_SampleLosses(self.problem))
            if isinstance(self.network, LiftedNetwork):
                self.network.refresh()

    def step_batch(self, x0: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None) -> dict:
        self.problem.check_batch(x0, y)
        self.optimizer.zero_grad(set_to_none=True)
        ddp = getattr(self, "_ddp", None)
        if ddp is None:
            loss = self.problem.loss(x0, y)
            loss.backward()
            value = float(loss.detach())
        else:  # DDP averages over ranks: scale so the result is the global batch's mean
            n_total = all_reduce_scalars([y.shape[0]])[0]
            local = ddp(x0, y).sum()
            (local * (world_size() / n_total)).backward()
            value = all_reduce_scalars([float(local.detach())])[0] / n_total
        self.optimizer.step()
        if isinstance(self.network, LiftedNetwork):
            self.network.refresh()
        return {"lifted": value, "violation": 0.0, "loss": value}

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)
