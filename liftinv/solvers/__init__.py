"""Solvers: lifted block-coordinate descent (plain, Nesterov, heavy-ball, Adam), ISGM, backprop."""

from .aux_memory import AuxMemory
from .backprop import Backprop
from .bcd import BCD, ISGM
from .fit import History, accuracy, evaluate, fit

__all__ = ["BCD", "ISGM", "Backprop", "AuxMemory", "fit", "evaluate", "accuracy", "History"]
