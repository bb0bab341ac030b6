"""Lifting penalties and the lifted training problem."""

from .penalties import FenchelPenalty, LiftedBregman, Penalty, QuadraticPenalty, get_penalty
from .problem import LiftedProblem
from .weights import geometric_weights

__all__ = ["Penalty", "LiftedBregman", "QuadraticPenalty", "FenchelPenalty", "get_penalty", "LiftedProblem",
           "geometric_weights"]
