r"""The variants of a lifted solver as small values: weight step, auxiliaries, penalty schedule.

:class:`~liftinv.solvers.BCD` takes one of each; their fields become the solver's
``defaults`` (so every parameter group carries them, ``state_dict`` saves them and
``torch.optim.lr_scheduler`` can change them), and :meth:`BCD.config` lists them
back as plain data.  A string names a strategy with its default settings
(``"adam"``, ``"prox-grad"``, ``"forward"``, ``"keep"``), and a dict with a ``"name"``
key and fields (what :meth:`to_dict` writes) rebuilds one.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields

from .aux_memory import STORAGES

MOMENTA = (None, "nesterov", "heavy-ball")


class _Strategy:
    name: str = ""

    def to_dict(self) -> dict:
        """The strategy as JSON-able data: ``{"name": ..., **fields}``."""
        out = {"name": self.name}
        for k, v in asdict(self).items():
            out[k] = list(v) if isinstance(v, tuple) else v
        return out

    def hyperparameters(self) -> dict:
        """The fields that go into the solver's ``defaults`` (and parameter groups)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def check_numbers(owner: str, **values) -> None:
    """``ValueError`` naming ``owner`` and the field unless every value (but ``None``) is a real number:
    a string (``lr: "1e-3"``, as YAML reads it) failed inside a comparison or ``math``."""
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise ValueError(f"{owner} {name}: expected a number, got {value!r} ({type(value).__name__}"
                             + ("; convert it with float()" if isinstance(value, str) else "") + ")")


def _finite_at_least(value: float, minimum: float) -> bool:
    """``minimum <= value < inf`` (False for NaN, which every comparison lets through)."""
    return math.isfinite(value) and value >= minimum


@dataclass(frozen=True)
class ProxGrad(_Strategy):
    r"""Lipschitz (proximal-gradient) steps on each layer's weight block.

    With :math:`g = \nabla_\theta\mathcal E`, :math:`L_\theta` the block's Lipschitz
    constant (warm-started power iteration) and :math:`\gamma = \text{step\_scale}/L_\theta`::

        if momentum == "nesterov":   theta <- theta + b_k (theta - theta_prev)   (before g is taken)
                                     b_k = beta, or (t_{k-1} - 1)/t_k with t_k = (1 + sqrt(1 + 4 t_{k-1}^2))/2
        if momentum == "heavy-ball": theta <- theta + beta (theta - theta_prev)  (beta = 0.9 if None)
        theta <- (theta - gamma g) / (1 + gamma weight_decay)     (prox of weight_decay/2 ||theta||^2)

    ``step_scale`` (in :math:`(0, 2)`) also scales the auxiliary steps :math:`1/L_m`.
    """

    momentum: str | None = None
    beta: float | None = None
    step_scale: float = 1.0
    weight_decay: float = 0.0
    name = "prox-grad"

    def __post_init__(self) -> None:
        check_numbers("ProxGrad", beta=self.beta, step_scale=self.step_scale, weight_decay=self.weight_decay)
        if self.momentum not in MOMENTA:
            raise ValueError(f"momentum must be one of {MOMENTA}, got {self.momentum!r}")
        if not 0 < self.step_scale < 2:
            raise ValueError(f"step_scale must lie in (0, 2), got {self.step_scale}")
        if not _finite_at_least(self.weight_decay, 0.0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if self.beta is not None and not 0 <= self.beta < 1:
            raise ValueError(f"beta must lie in [0, 1) (or be None: the method's default), got {self.beta}")


@dataclass(frozen=True)
class Adam(_Strategy):
    r"""Adam (Kingma & Ba) on the lifted weight gradients, per layer (``torch.optim.adam``)::

        g <- g + weight_decay theta
        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        theta <- theta - lr (m / (1 - beta1^k)) / (sqrt(v / (1 - beta2^k)) + eps)

    with :math:`k` the layer's step count.
    """

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    name = "adam"

    def __post_init__(self) -> None:
        check_numbers("Adam", lr=self.lr, eps=self.eps, weight_decay=self.weight_decay)
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if not all(_finite_at_least(v, 0.0) for v in (self.lr, self.eps, self.weight_decay)):
            raise ValueError(f"lr, eps and weight_decay must be finite numbers >= 0, got {self.lr}, {self.eps}, "
                             f"{self.weight_decay}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")


@dataclass(frozen=True)
class ForwardAux(_Strategy):
    """Auxiliaries rebuilt by a forward pass at every mini-batch (no storage)."""

    name = "forward"


@dataclass(frozen=True)
class KeptAux(_Strategy):
    """Auxiliaries kept per sample between visits (true lifted BCD), in an
    :class:`~liftinv.solvers.AuxMemory`: on the ``'device'``, in ``'pinned'`` CPU memory or
    in a memory-mapped file (``'mmap'``) in the folder ``path`` (default a temporary one)."""

    storage: str = "device"
    path: str | None = None
    name = "keep"

    def __post_init__(self) -> None:
        if self.storage not in STORAGES:
            raise ValueError(f"aux storage must be one of {STORAGES}, got {self.storage!r}")
        if self.path is not None:
            object.__setattr__(self, "path", str(self.path))


@dataclass(frozen=True)
class PenaltySchedule(_Strategy):
    r"""Continuation of the penalty weights: after every weight step
    :math:`\lambda_l \leftarrow \min(\text{growth}\,\lambda_l, \text{max})` (the quadratic-penalty
    method's :math:`\mu\to\infty`).  ``growth=1`` (the default) keeps them fixed; ``max=None``
    means no cap (infinity; :meth:`to_dict` writes ``None``, so the data stays strict JSON)."""

    growth: float = 1.0
    max: float | None = math.inf
    name = "penalty-schedule"

    def __post_init__(self) -> None:
        object.__setattr__(self, "growth", float(self.growth))
        object.__setattr__(self, "max", math.inf if self.max is None else float(self.max))
        if not (_finite_at_least(self.growth, 1.0) and self.max > 0):  # max may be inf (no cap)
            raise ValueError(f"penalty growth must be a finite number >= 1 and max > 0, got {self.growth}, "
                             f"{self.max}")

    def to_dict(self) -> dict:
        return {"growth": self.growth, "max": None if math.isinf(self.max) else self.max}


WEIGHTS = {"prox-grad": ProxGrad, "adam": Adam}
AUXILIARIES = {"forward": ForwardAux, "keep": KeptAux}


def _resolve(spec, kinds: dict, what: str):
    if isinstance(spec, tuple(kinds.values())):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("name", None)
        if name in kinds:
            return kinds[name](**spec)
        raise ValueError(f"{what} must be one of {tuple(kinds)}, got {name!r}")
    raise ValueError(f"{what} must be one of {tuple(kinds)} or a strategy object, got {spec!r}")


def as_weights(spec) -> ProxGrad | Adam:
    """A weight strategy from an object, a name (``'prox-grad'``, ``'adam'``) or a dict."""
    return _resolve(spec, WEIGHTS, "weights")


def as_aux(spec) -> ForwardAux | KeptAux:
    """An auxiliary strategy from an object, a name (``'forward'``, ``'keep'``) or a dict."""
    return _resolve(spec, AUXILIARIES, "aux")


def as_schedule(spec) -> PenaltySchedule:
    """A penalty schedule from an object, ``None`` (fixed weights) or a dict."""
    if spec is None:
        return PenaltySchedule()
    if isinstance(spec, PenaltySchedule):
        return spec
    if isinstance(spec, dict):
        return PenaltySchedule(**{k: v for k, v in spec.items() if k != "name"})
    raise ValueError(f"schedule must be a PenaltySchedule or a dict, got {spec!r}")
