"""Solvers: lifted block-coordinate descent (plain, Nesterov, heavy-ball, Adam), ISGM, backprop."""

from .aux_memory import AuxMemory, aux_bytes
from .backprop import Backprop
from .bcd import BCD
from .fit import History, TrainingDiverged, accuracy, evaluate, fit
from .isgm import ISGM
from .strategies import Adam, ForwardAux, KeptAux, PenaltySchedule, ProxGrad

__all__ = ["BCD", "ISGM", "Backprop", "AuxMemory", "aux_bytes", "fit", "evaluate", "accuracy", "History",
           "TrainingDiverged", "ProxGrad", "Adam", "ForwardAux", "KeptAux", "PenaltySchedule"]
