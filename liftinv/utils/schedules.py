r"""Learning-rate schedules over a run: the rate as a function of how much of the run is done.

A training run that stops on a budget (seconds) or a number of epochs knows at every step the
fraction :math:`p \in [0, 1]` of it that has passed (the larger of the two fractions when both
are given), so its learning rate can follow a schedule of :math:`p` without knowing in advance
how many steps it will take:

- ``"constant"``: :math:`\mathrm{lr}(p) = \mathrm{lr}_0`;
- ``"cosine"``: :math:`\mathrm{lr}(p) = \mathrm{lr}_0 \,\tfrac12 (1 + \cos \pi p)`, from
  :math:`\mathrm{lr}_0` down to 0 at the end of the run (Loshchilov & Hutter's annealing
  without restarts).

:func:`set_learning_rate` writes ``lr_0 * factor`` into every parameter group of a solver (the
lifted solvers' own groups, or backprop's ``torch.optim.Adam``), keeping ``lr_0`` in the group as
``initial_lr`` (torch's ``lr_scheduler`` convention), so a checkpointed run resumes on the same
curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["LR_SCHEDULES", "lr_factor", "run_fraction", "set_learning_rate"]


def _constant(p: float) -> float:
    return 1.0


def _cosine(p: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(max(p, 0.0), 1.0)))


#: schedule name -> factor(p), p the fraction of the run done
LR_SCHEDULES: dict[str, Callable[[float], float]] = {"constant": _constant, "cosine": _cosine}


def lr_factor(schedule: str, p: float) -> float:
    """The factor of the initial learning rate at fraction ``p`` of the run."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule: unknown {schedule!r}; choose one of {sorted(LR_SCHEDULES)}")
    return LR_SCHEDULES[schedule](p)


def run_fraction(*, seconds: float, epoch_progress: float, time_budget: float | None,
                 epochs: int | None) -> float:
    """The fraction of the run done: ``seconds / time_budget`` and/or ``epoch_progress / epochs``
    (epochs done, fractional), the larger when both stop the run."""
    parts = []
    if time_budget is not None:
        parts.append(seconds / time_budget)
    if epochs is not None:
        parts.append(epoch_progress / epochs)
    return min(max(parts), 1.0)


def set_learning_rate(solver, factor: float) -> None:
    """Set every parameter group's ``lr`` of ``solver`` to ``initial_lr * factor`` (``initial_lr``:
    the group's rate the first time this is called, stored in the group)."""
    for group in solver.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor
