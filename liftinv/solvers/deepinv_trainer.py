"""Drive a lifted solver from deepinv's ``Trainer``.

deepinv's ``Trainer`` evaluates ``model(y, physics)``, computes its losses, calls
``backward()`` and then ``optimizer.step()``.  A lifted solver needs no backward
pass: it needs the batch.  :class:`LiftedTrainer` hands the batch (measurement
``y`` as the network input, ground truth ``x`` as the target) to the solver
through :meth:`BCD.set_batch` and lets the Trainer call ``optimizer.step()`` as
usual (the :class:`torch.optim.Optimizer` contract); the reported training loss is
computed without a graph.  Evaluation, metrics, checkpoints and logging are
deepinv's own.
"""

from __future__ import annotations

import deepinv as dinv
import torch

from ..models.network import LiftedNetwork


class NetworkReconstructor(dinv.models.Reconstructor):
    """A :class:`LiftedNetwork` as a deepinv reconstructor: ``model(y, physics) = net(y)``."""

    def __init__(self, network: LiftedNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, y: torch.Tensor, physics=None, **kwargs) -> torch.Tensor:
        return self.network(y)


class LiftedTrainer(dinv.Trainer):
    """``deepinv.Trainer`` whose optimizer is a lifted solver (:class:`BCD`, :class:`ISGM`).

    Use it exactly like ``deepinv.Trainer`` with ``model=NetworkReconstructor(net)``
    and ``optimizer=BCD(LiftedProblem(net))``; the network is trained to map
    measurements to ground truths with the problem's loss.
    """

    def compute_loss(self, physics, x, y, train: bool = True, epoch: int | None = None, step: bool = False):
        if not train:
            return super().compute_loss(physics, x, y, train=train, epoch=epoch, step=step)
        if not hasattr(self.optimizer, "set_batch"):
            raise TypeError("LiftedTrainer needs a lifted solver (BCD or ISGM) as optimizer")
        self.optimizer.set_batch(y, x)
        with torch.no_grad():
            x_net = self.model_inference(y=y, physics=physics, x=x, train=True)
            loss_total = 0.0
            for k, loss_fn in enumerate(self.losses):
                loss = loss_fn(x=x, x_net=x_net, y=y, physics=physics, model=self.model, epoch=epoch)
                loss_total += loss.mean()
                self.logs_losses_train[k].update(loss.detach().cpu().numpy())
            self.logs_total_loss_train.update(float(loss_total))
        if step:
            self.optimizer.step()
        return loss_total, x_net, {"TotalLoss": self.logs_total_loss_train.avg}
