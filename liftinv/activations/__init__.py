r"""Proximal activations :math:`\sigma = \mathrm{prox}_\Psi` and their lifted Bregman penalties.

Every activation is a ``torch.nn.Module`` (``forward = sigma``) subclassing
:class:`ProxActivation`, with ``psi``, ``phi``, ``phi_conj``, ``penalty`` (the lifted Bregman
penalty :math:`B(y, v) = \phi(y) + \phi^*(v) - \langle y, v\rangle`, summed per sample),
``penalty_grad_v`` (:math:`\sigma(v) - y`), ``prox_psi``, ``prox_phi``, ``project`` and
``derivative``.  See lifted-maths.md section 8.3 for the table.
"""

from .base import ProxActivation
from .box import Clip, HardTanh, SoftThreshold
from .elu import ELU
from .errors import NotProximalError
from .piecewise import Identity, LeakyReLU, ReLU
from .registry import ACTIVATIONS, get_activation, supported_names
from .smooth import Sigmoid, Tanh
from .softmax import Softmax, project_simplex

__all__ = [
    "ProxActivation",
    "Identity",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Clip",
    "HardTanh",
    "SoftThreshold",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "project_simplex",
    "get_activation",
    "supported_names",
    "ACTIVATIONS",
    "NotProximalError",
]
