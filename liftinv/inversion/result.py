"""What every inversion solver returns: the estimate and its history."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..metrics import psnr
from ..solvers.fit import History
from ..utils.checks import check_image_scale, check_tensor, check_working_dtype


@dataclass
class InversionResult:
    """``x``: the recovered inputs ``(B, ...)``.  ``history``: a
    :class:`~liftinv.solvers.History` (the training loop's record type) of one record per
    monitored iteration (``iteration``, ``seconds``, ``objective``, ``misfit``, ``violation``,
    and ``psnr`` when the true input was given).  ``states``: the final auxiliaries (lifted
    solver only).  ``settings``: the solver's parameters."""

    x: torch.Tensor
    history: History = field(default_factory=History)
    states: list[torch.Tensor] | None = None
    settings: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.history = History(self.history)

    @property
    def final(self) -> dict:
        """The last record of :attr:`history`."""
        return self.history.final


def data_misfit(network, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Per-sample :math:`\tfrac12\|N(x) - y\|^2` (the nested data misfit, no regulariser)."""
    with torch.no_grad():
        return 0.5 * (network(x) - y).flatten(1).pow(2).sum(1)


def reference_tensor(network: torch.nn.Module, y: torch.Tensor) -> torch.Tensor:
    """The tensor whose device and dtype a solver works in: the network's first parameter, else
    its first buffer (a network of parameter-free maps), else ``y``."""
    for t in (next(network.parameters(), None), next(network.buffers(), None)):
        if t is not None:
            check_working_dtype(t, "inversion")
            return t
    return y


def check_features(y: torch.Tensor, shape) -> None:
    """The network outputs to invert: a finite floating tensor of per-sample ``shape`` (``None``:
    any) with at least one sample; errors name ``y``."""
    check_tensor(y, "y", shape=shape)
    if not y.is_floating_point():
        raise TypeError(f"y is {y.dtype}: give the network's outputs as floating values (y.float(), scaled "
                        "as the network produces them)")
    if y.shape[0] == 0:
        raise ValueError("y has no samples (batch size 0)")


def check_reference(x_true: torch.Tensor | None, x0: torch.Tensor) -> torch.Tensor | None:
    """``x_true`` checked against the estimate ``x0`` (same shape, finite, floating, not a 0-255
    image: the PSNR reads [0, 1]) and moved to its device and dtype; ``None`` stays ``None``."""
    if x_true is None:
        return None
    check_tensor(x_true, "x_true", shape=x0.shape[1:])
    if x_true.shape[0] != x0.shape[0]:
        raise ValueError(f"x_true has {x_true.shape[0]} samples but y has {x0.shape[0]}")
    check_image_scale(x_true, "x_true")  # integer or 0-255 images; standardised inputs pass (PSNR of [0, 1])
    return x_true.detach().to(x0)


def psnr_values(x: torch.Tensor, x_true: torch.Tensor) -> torch.Tensor:
    """Per-sample :func:`liftinv.metrics.psnr` (data range 1, both clamped to [0, 1]) of
    ``(B, C, H, W)`` or flat ``(B, ...)`` inputs (scored as ``(B, 1, 1, N)`` images)."""
    shape = x_true.shape
    if x_true.dim() != 4:
        shape = (x_true.shape[0], 1, 1, x_true[0].numel())
    return psnr(x.reshape(shape).clamp(0, 1), x_true.reshape(shape).clamp(0, 1))  # a diverged x scores low
