"""Lifting penalties and the lifted training problem."""

from .penalties import FenchelPenalty, LiftedBregman, Penalty, QuadraticPenalty, get_penalty
from .problem import LiftedProblem

__all__ = ["Penalty", "LiftedBregman", "QuadraticPenalty", "FenchelPenalty", "get_penalty", "LiftedProblem"]
