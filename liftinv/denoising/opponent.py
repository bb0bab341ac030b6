r"""Colour denoising with grayscale denoisers, in the orthonormal opponent colour space.

The opponent transform (the colour transform of CBM3D, Dabov et al. 2007) is the orthogonal matrix

.. math::
    O = \begin{pmatrix} 1/\sqrt3 & 1/\sqrt3 & 1/\sqrt3 \\ 1/\sqrt2 & 0 & -1/\sqrt2 \\
        1/\sqrt6 & -2/\sqrt6 & 1/\sqrt6 \end{pmatrix},\qquad c = O z \ \text{per pixel}.

Because :math:`O` is orthogonal, white Gaussian noise of level :math:`\sigma` in RGB is white
Gaussian noise of level :math:`\sigma` in each of the three opponent channels, independent between
them: a luminance channel :math:`c_0` (range :math:`[0, \sqrt3]` for :math:`z\in[0,1]^3`) and two
chrominance channels :math:`c_1, c_2` (ranges :math:`\pm1/\sqrt2` and :math:`\pm2/\sqrt6`) that carry
far less structure.  Each channel :math:`k` is mapped affinely into :math:`[0, 1]`, the range the
grayscale networks were trained on, denoised by a grayscale network :math:`f_k`, and mapped back:

.. math::
    \hat c_k = m_k + \big(f_k(s_k(c_k - m_k) + \tfrac12) - \tfrac12\big)/s_k,\qquad
    \hat x = O^\top\hat c,

with :math:`m_k` the centre of channel :math:`k`'s range.  The scaled channel has noise level
:math:`s_k\sigma`; the scale is :math:`s_k = \min(\sigma_k/\sigma, 1/|\text{range}_k|)`: the one
that gives the network :math:`f_k` (trained at :math:`\sigma_k`) its own noise level, unless the
channel's range would then leave :math:`[0, 1]` (the networks clip their primal iterates to it).
:func:`opponent_plan` picks the networks: the luminance gets the model trained nearest to the noise
level of its range-fitted channel, :math:`\sigma/\sqrt3`; the chrominances the model trained
nearest to :math:`\sigma` itself, which, applied at their range-fitted scale, smooths them about
1.5 times more than their noise level asks for. That choice, and the use of the opponent
space instead of a network trained on RGB, were made on natural colour images that no shipped
model was trained or tested on (``benchmarks/color_denoisers.py``, docs/networks.md).

>>> import torch
>>> from liftinv.denoising.opponent import OpponentDenoiser
>>> ident = torch.nn.Identity()
>>> f = OpponentDenoiser([ident, ident, ident], scales=[0.5, 0.6, 0.6])
>>> z = torch.rand(2, 3, 8, 8)
>>> bool(torch.allclose(f(z), z, atol=1e-6))   # identity networks: the transform is exact
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["OPPONENT", "CHANNEL_RANGES", "OpponentDenoiser", "nearest_level", "opponent_plan", "opponent_weights"]

_R3, _R2, _R6 = math.sqrt(3.0), math.sqrt(2.0), math.sqrt(6.0)

#: the orthonormal opponent transform (rows: luminance, red-blue, green-magenta)
OPPONENT = ((1 / _R3, 1 / _R3, 1 / _R3), (1 / _R2, 0.0, -1 / _R2), (1 / _R6, -2 / _R6, 1 / _R6))

#: the range of each opponent channel for RGB values in [0, 1]
CHANNEL_RANGES = ((0.0, _R3), (-1 / _R2, 1 / _R2), (-2 / _R6, 2 / _R6))


def nearest_level(level: float, trained: Sequence[float]) -> float:
    """The entry of ``trained`` nearest ``level`` (ties: the larger)."""
    return min(trained, key=lambda s: (abs(s - level), -s))


def opponent_plan(sigma: float, trained: Sequence[float]) -> list[tuple[float, float]]:
    r"""``[(trained sigma, scale)]`` for the three opponent channels at noise level ``sigma``, given
    the noise levels ``trained`` that have a grayscale model (same scale as ``sigma``).

    Luminance: the model nearest :math:`\sigma/\sqrt3`; chrominances: the model nearest
    :math:`\sigma`; each channel's scale :math:`\min(\sigma_k/\sigma, 1/|\text{range}_k|)` (module
    docstring).  Ties go to the larger trained sigma.

    >>> [(s, round(k, 3)) for s, k in opponent_plan(25, [15, 25, 50])]
    [(15, 0.577), (25, 0.707), (25, 0.612)]
    >>> [(s, round(k, 3)) for s, k in opponent_plan(50, [15, 25, 50])]
    [(25, 0.5), (50, 0.707), (50, 0.612)]
    """
    if not trained:
        raise ValueError("opponent_plan: no trained noise levels to choose from")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma: expected a finite noise level > 0, got {sigma!r}")
    plan = []
    for k, (lo, hi) in enumerate(CHANNEL_RANGES):
        model = nearest_level(sigma / _R3 if k == 0 else sigma, trained)
        plan.append((model, min(model / sigma, 1.0 / (hi - lo))))
    return plan


def opponent_weights(sigma: float, plan, trained: Sequence[float]) -> list[float]:
    r"""Per channel of ``plan`` (:func:`opponent_plan` at ``sigma``), the weight :math:`w_k` of its
    network's output against the channel itself: below the lowest trained level
    (:math:`\sigma < \sigma_1`, where the grayscale models blend too,
    :func:`~liftinv.denoising.deepinv_denoiser.family_choice`) :math:`s_k\sigma/\sigma_k` for a
    channel given the lowest model (it sees less noise than it was trained for and would remove
    noise that is not there), else 1 (the plans at and above :math:`\sigma_1` were chosen as
    they are, docs/networks.md).

    >>> [round(w, 3) for w in opponent_weights(5, opponent_plan(5, [10, 15, 25, 50]), [10, 15, 25, 50])]
    [0.289, 0.354, 0.306]
    >>> opponent_weights(25, opponent_plan(25, [10, 15, 25, 50]), [10, 15, 25, 50])
    [1.0, 1.0, 1.0]
    """
    lowest = min(trained)
    if sigma >= lowest:
        return [1.0, 1.0, 1.0]
    return [min(1.0, s * sigma / level) if level == lowest else 1.0 for level, s in plan]


class OpponentDenoiser(nn.Module):
    r"""A colour denoiser made of three grayscale ones, one per opponent channel (module docstring).

    ``denoisers``: three modules mapping ``(B, 1, H, W)`` to ``(B, 1, H, W)`` (the same module may
    serve several channels); ``scales``: :math:`s_k`; ``weights`` (optional, 1 each): :math:`w_k`,
    each denoised channel blended with the noisy one, :math:`w_k\hat c_k + (1 - w_k)c_k`
    (:func:`opponent_weights`).  Input and output are ``(B, 3, H, W)`` RGB
    batches in [0, 1] (the output is not clipped).  The channels are denoised one after the
    other, so memory is that of one grayscale pass.
    """

    def __init__(self, denoisers: Sequence[nn.Module], scales: Sequence[float],
                 weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if len(denoisers) != 3 or len(scales) != 3:
            raise ValueError(f"OpponentDenoiser: expected 3 denoisers and 3 scales (one per opponent channel), "
                             f"got {len(denoisers)} and {len(scales)}")
        if not all(isinstance(s, (int, float)) and math.isfinite(s) and s > 0 for s in scales):
            raise ValueError(f"OpponentDenoiser: scales must be finite and > 0, got {list(scales)}")
        weights = [1.0] * 3 if weights is None else list(weights)
        if len(weights) != 3 or not all(isinstance(w, (int, float)) and 0 < w <= 1 for w in weights):
            raise ValueError(f"OpponentDenoiser: expected 3 weights in (0, 1], got {weights}")
        self.denoisers = nn.ModuleList(denoisers)
        self.scales = tuple(float(s) for s in scales)
        self.weights = tuple(float(w) for w in weights)
        self.centres = tuple(0.5 * (lo + hi) for lo, hi in CHANNEL_RANGES)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 4 or z.shape[1] != 3:
            raise ValueError(f"OpponentDenoiser: expected an RGB batch (B, 3, H, W), got shape {tuple(z.shape)}")
        o = torch.tensor(OPPONENT, dtype=z.dtype, device=z.device)  # exact in the input's precision
        c = torch.einsum("kj,bjhw->bkhw", o, z)
        out = torch.empty_like(c)
        for k, (net, s, m, w) in enumerate(zip(self.denoisers, self.scales, self.centres, self.weights)):
            channel = net((c[:, k:k + 1] - m) * s + 0.5)
            out[:, k:k + 1] = (channel - 0.5) / s + m
            if w != 1.0:
                out[:, k:k + 1].lerp_(c[:, k:k + 1], 1.0 - w)
        return torch.einsum("kj,bkhw->bjhw", o, out)

    def extra_repr(self) -> str:
        text = "scales=(" + ", ".join(f"{s:.3f}" for s in self.scales) + ")"
        if self.weights != (1.0,) * 3:
            text += ", weights=(" + ", ".join(f"{w:.3f}" for w in self.weights) + ")"
        return text
