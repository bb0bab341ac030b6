"""Look-up of proximal activations by name, and conversion of ``torch.nn`` activation modules."""

from __future__ import annotations

from torch import nn

from .base import ProxActivation
from .box import Clip, HardTanh, SoftThreshold
from .elu import ELU
from .errors import PROXIMAL_RULE, NotProximalError
from .piecewise import Identity, LeakyReLU, ReLU
from .smooth import Sigmoid, Tanh
from .softmax import Softmax

__all__ = ["get_activation", "ACTIVATIONS", "supported_names"]

#: Name -> class.  Aliases: 'linear' = identity, 'softshrink' = soft_threshold.
ACTIVATIONS: dict[str, type[ProxActivation]] = {
    "identity": Identity,
    "linear": Identity,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "clip": Clip,
    "hardtanh": HardTanh,
    "soft_threshold": SoftThreshold,
    "softshrink": SoftThreshold,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softmax": Softmax,
}

# torch-style keyword names accepted for the corresponding activations
_KWARG_ALIASES = {
    SoftThreshold: {"lambd": "threshold", "alpha": "threshold"},
    Clip: {"min_val": "low", "max_val": "high"},
    HardTanh: {"min_val": "low", "max_val": "high"},
}

_NON_PROXIMAL_WHY = {
    "gelu": "GELU is not monotone (it dips below zero, minimum about -0.17 near v = -0.75)",
    "silu": "SiLU/swish v*sigmoid(v) is not monotone (minimum about -0.28 at v = -1.28)",
    "swish": "SiLU/swish v*sigmoid(v) is not monotone (minimum about -0.28 at v = -1.28)",
    "mish": "Mish v*tanh(softplus(v)) is not monotone (minimum about -0.31 near v = -1.19)",
    "hardswish": "Hardswish is not monotone (minimum -0.375 at v = -1.5)",
    "selu": "SELU is not 1-Lipschitz (slope 1.0507 for v > 0)",
    "hardshrink": "Hardshrink jumps at +-lambda (it is not continuous, hence not 1-Lipschitz)",
}

_NON_PROXIMAL_MODULES = (
    (nn.GELU, "gelu"),
    (nn.SiLU, "silu"),
    (nn.Mish, "mish"),
    (nn.Hardswish, "hardswish"),
    (nn.SELU, "selu"),
    (nn.Hardshrink, "hardshrink"),
)

#: torch activations that are proximal (monotone and 1-Lipschitz) but have no implementation here.
_PROXIMAL_UNSUPPORTED = (nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.Hardsigmoid, nn.LogSigmoid)


def supported_names() -> list[str]:
    """The accepted activation names (aliases included)."""
    return sorted(ACTIVATIONS)


def _not_proximal(why: str) -> NotProximalError:
    return NotProximalError(
        f"{why}, so it is not the proximal map of a convex function: {PROXIMAL_RULE}. "
        f"Use one of {supported_names()} instead."
    )


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _from_name(name: str, kwargs: dict) -> ProxActivation:
    key = _normalise(name)
    if key in ACTIVATIONS:
        cls = ACTIVATIONS[key]
        aliases = _KWARG_ALIASES.get(cls, {})
        kwargs = {aliases.get(k, k): val for k, val in kwargs.items()}
        try:
            return cls(**kwargs)
        except TypeError as err:  # unexpected keyword
            raise ValueError(f"invalid parameters {kwargs} for activation {name!r}: {err}") from err
    if key in _NON_PROXIMAL_WHY:
        raise _not_proximal(_NON_PROXIMAL_WHY[key])
    raise ValueError(f"Unknown activation {name!r}; supported names: {supported_names()}")


def _leaky(module: nn.LeakyReLU | nn.PReLU) -> ProxActivation:
    """``nn.LeakyReLU(a)`` or ``nn.PReLU`` (one slope, or one per channel along dim 1)."""
    if isinstance(module, nn.LeakyReLU):
        what, slopes = f"nn.LeakyReLU(negative_slope={float(module.negative_slope):g})", [float(module.negative_slope)]
    else:
        slopes = module.weight.detach().flatten().tolist()
        what = f"nn.PReLU(num_parameters={len(slopes)})"
    for j, a in enumerate(slopes):
        where = f" (channel {j})" if len(slopes) > 1 else ""
        if a < 0.0:
            raise _not_proximal(f"{what} has slope a={a:g}{where}, so it is not monotone (slope < 0)")
        if a > 1.0:
            raise _not_proximal(f"{what} has slope a={a:g}{where}, so it is not 1-Lipschitz (slope > 1)")
    if all(a == slopes[0] for a in slopes):
        return ReLU() if slopes[0] == 0.0 else LeakyReLU(slopes[0])
    if min(slopes) == 0.0:
        raise ValueError(f"{what} mixes slope 0 (ReLU) with positive slopes across channels, which liftinv's "
                         "LeakyReLU does not support; every slope must be > 0, or all 0")
    return LeakyReLU(module.weight.detach().flatten().clone())


def _elu(module: nn.ELU | nn.CELU) -> ProxActivation:
    """``nn.ELU(alpha)`` (proximal iff 0 <= alpha <= 1) or ``nn.CELU(alpha)`` (always)."""
    a = float(module.alpha)
    if a == 0.0:
        return ReLU()
    if isinstance(module, nn.CELU):
        return ELU(a, beta=a)
    if a < 0.0:
        raise _not_proximal(f"nn.ELU(alpha={a:g}) is not monotone (alpha < 0)")
    if a > 1.0:
        raise _not_proximal(f"nn.ELU(alpha={a:g}) is not 1-Lipschitz (its slope alpha*e^v tends to alpha = {a:g} > 1 "
                            "as v -> 0-; alpha <= 1 is needed)")
    return ELU(a)


def _from_module(module: nn.Module) -> ProxActivation:
    for cls, key in _NON_PROXIMAL_MODULES:
        if isinstance(module, cls):
            raise _not_proximal(_NON_PROXIMAL_WHY[key])
    if isinstance(module, nn.Identity):
        return Identity()
    if isinstance(module, nn.ReLU):
        return ReLU()
    if isinstance(module, (nn.LeakyReLU, nn.PReLU)):
        return _leaky(module)
    if isinstance(module, (nn.ELU, nn.CELU)):
        return _elu(module)
    if isinstance(module, nn.Hardtanh):  # includes nn.ReLU6 = clip to [0, 6]
        return Clip(float(module.min_val), float(module.max_val))
    if isinstance(module, nn.Sigmoid):
        return Sigmoid()
    if isinstance(module, nn.Tanh):
        return Tanh()
    if isinstance(module, nn.Softshrink):
        lam = float(module.lambd)
        return Identity() if lam == 0.0 else SoftThreshold(lam)
    if isinstance(module, nn.Softmax):
        if module.dim != 1:
            raise ValueError(
                f"nn.Softmax(dim={module.dim}) is not supported: liftinv's Softmax acts along "
                "dim 1 (the channel/class dim); use nn.Softmax(dim=1)"
            )
        return Softmax()
    if isinstance(module, _PROXIMAL_UNSUPPORTED):
        raise ValueError(f"nn.{type(module).__name__} is monotone and 1-Lipschitz, hence a proximal map, but "
                         f"liftinv has no closed form of its Psi (supported names: {supported_names()})")
    raise ValueError(
        f"Cannot convert {module!r} to a proximal activation; supported torch modules: {PROXIMAL_MODULES}; "
        f"supported names: {supported_names()}"
    )


#: the torch activation modules that convert (for messages)
PROXIMAL_MODULES = ("nn.Identity, nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU (alpha <= 1), nn.CELU, nn.Hardtanh, "
                    "nn.ReLU6, nn.Sigmoid, nn.Tanh, nn.Softshrink, nn.Softmax(dim=1)")


def get_activation(spec, **kwargs) -> ProxActivation:
    """A :class:`ProxActivation` from a name, an instance (returned as is) or a torch module.

    Names (case-insensitive, ``-`` = ``_``): ``identity``/``linear``, ``relu``, ``leaky_relu``, ``elu``,
    ``clip``, ``hardtanh``, ``soft_threshold``/``softshrink``, ``sigmoid``, ``tanh``,
    ``softmax``; ``kwargs`` go to the constructor (torch names ``lambd``, ``min_val``,
    ``max_val`` are accepted).  Torch modules are converted with their parameters.

    Raises :class:`NotProximalError` (a ``ValueError``) for activations that are not
    proximal maps (GELU, SiLU/swish, Mish, Hardswish, SELU, Hardshrink, leaky/PReLU slopes outside
    [0, 1], ELU with alpha > 1), and
    ``ValueError`` for unknown names/modules or invalid parameters.
    """
    if isinstance(spec, ProxActivation):
        if kwargs:
            raise ValueError(f"keyword arguments {sorted(kwargs)} given with an instance {spec!r}")
        return spec
    if isinstance(spec, str):
        return _from_name(spec, kwargs)
    if isinstance(spec, nn.Module):
        if kwargs:
            raise ValueError(f"keyword arguments {sorted(kwargs)} given with a module {spec!r}")
        return _from_module(spec)
    raise ValueError(
        f"Activation spec must be a name, a ProxActivation or a torch.nn module, got {spec!r}; "
        f"supported names: {supported_names()}"
    )
