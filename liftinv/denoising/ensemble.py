"""Geometric self-ensemble: a denoiser averaged over the flips and quarter turns of its input.

For a denoiser ``f`` and a group ``G`` of image symmetries (the dihedral group of the square:
the identity, three quarter turns and their mirror images, 8 elements), the self-ensemble is

    f_G(z) = (1 / |G|) * sum_{g in G} g^{-1}( f( g(z) ) ).

White Gaussian noise is invariant in law under every ``g`` (it permutes the pixels), so each term is
an equally good estimate of the clean image; their errors are partly independent, and the mean is
better than any one of them (by about 0.05-0.12 dB for the shipped ScCP-PNNs on the embedded
training images, docs/networks.md).  ``f_G`` is exactly ``G``-equivariant, ``f_G(g z) = g f_G(z)``,
whatever ``f`` is; it costs ``|G|`` evaluations of ``f``.  ``n`` picks the first ``n`` elements of

    identity, horizontal flip, half turn, vertical flip, quarter turn, quarter turn + flip,
    three-quarter turn, three-quarter turn + flip

(``n = 2``: flips, ``n = 4``: the flips and the half turn, which keep the image's shape; ``n = 8``:
the whole group).  Known as the "self-ensemble" or "x8" of EDSR (Lim et al., 2017).

>>> import torch
>>> from liftinv.denoising import SelfEnsemble
>>> net = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
>>> z = torch.rand(1, 1, 8, 6)
>>> f = SelfEnsemble(net, 8)
>>> bool(torch.allclose(f(z.rot90(1, (-2, -1))), f(z).rot90(1, (-2, -1)), atol=1e-6))
True
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ENSEMBLE_SIZES", "SelfEnsemble", "self_ensemble"]

#: the ensemble sizes that are groups (or the identity): 1, 2, 4, 8
ENSEMBLE_SIZES = (1, 2, 4, 8)

# (quarter turns, flip of the last axis after the turn), in the order of the module docstring
_TRANSFORMS = ((0, False), (0, True), (2, False), (2, True), (1, False), (1, True), (3, False), (3, True))


def _apply(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    x = torch.rot90(x, turns, (-2, -1)) if turns else x
    return x.flip(-1) if flip else x


def _undo(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    x = x.flip(-1) if flip else x
    return torch.rot90(x, -turns, (-2, -1)) if turns else x


class SelfEnsemble(nn.Module):
    """``network`` averaged over ``n`` symmetries of its input (module docstring); ``n`` in
    :data:`ENSEMBLE_SIZES`.  ``n = 1`` is ``network`` itself.  The wrapped module is ``.network``
    (its parameters are this module's); inputs are ``(..., H, W)`` tensors, outputs the network's."""

    def __init__(self, network: nn.Module, n: int = 8) -> None:
        super().__init__()
        if isinstance(n, bool) or not isinstance(n, int) or n not in ENSEMBLE_SIZES:
            raise ValueError(f"SelfEnsemble: n must be one of {ENSEMBLE_SIZES} (a group of flips and quarter "
                             f"turns), got {n!r}")
        self.network = network
        self.n = n

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = None
        for turns, flip in _TRANSFORMS[:self.n]:
            y = _undo(self.network(_apply(z, turns, flip)), turns, flip)
            out = y if out is None else out + y  # not in place: autograd may hold the network's output
        return out if self.n == 1 else out / self.n

    def extra_repr(self) -> str:
        return f"n={self.n}"


def self_ensemble(network: nn.Module, n: int = 8) -> nn.Module:
    """``network`` itself for ``n = 1``, else :class:`SelfEnsemble` ``(network, n)``."""
    ensemble = SelfEnsemble(network, n)  # validates n
    return network if n == 1 else ensemble
