"""The denoisers liftinv trains, built from a small architecture dictionary.

``{"name": "dfb", "channels": 1, "patch": 40, "depth": 10, "features": 32}`` builds a
:class:`~liftinv.models.DFBPNN`; ``"dfb-inertial"`` its FISTA-accelerated variant; ``"sccp"`` the
strongly convex Chambolle-Pock network :class:`~liftinv.models.SccpPNN` (``depth`` iterations, so
``2 depth`` lifted layers); ``"dncnn"`` deepinv's DnCNN (``pretrained=None``: random weights, nothing downloaded),
trained by backprop only.  The dictionary is stored in checkpoints, so a checkpoint
rebuilds its own network.
"""

from __future__ import annotations

import torch

from ..models.dfb import DFBPNN
from ..models.sccp import SccpPNN
from ..utils.checks import check_number

DENOISERS = ("dfb", "dfb-inertial", "sccp", "dncnn")


def default_arch(name: str, channels: int = 1, patch: int = 40, depth: int | None = None,
                 features: int | None = None) -> dict:
    """The architecture dictionary with liftinv's defaults filled in (``depth`` is the number of
    unrolled iterations ``K`` of dfb/sccp, any ``K >= 1``; ``features`` is ``F``, e.g. deepinv's
    DScCP size ``depth=20, features=64``)."""
    if name not in DENOISERS:
        raise ValueError(f"unknown denoiser {name!r}; choose one of {DENOISERS}")
    # only None means "the default": depth=0 or features=0 is an error, not the default
    depth = (7 if name == "dncnn" else 10) if depth is None else check_number(depth, "depth", minimum=1, integer=True)
    features = 32 if features is None else check_number(features, "features", minimum=1, integer=True)
    if name == "dncnn":
        return {"name": name, "channels": channels, "depth": depth, "features": features}
    arch = {"name": name, "channels": channels, "patch": patch, "depth": depth,
            "features": features, "kernel_size": 3, "nu": 0.05}
    if name == "sccp":  # a smaller box, near deepinv's sigma^2 (measured better: docs/networks.md)
        arch.update(nu=0.01, mu=1.0)
    return arch


def build_denoiser(arch: dict) -> torch.nn.Module:
    """The network described by ``arch`` (see :func:`default_arch`)."""
    name = arch.get("name")
    if name in ("dfb", "dfb-inertial"):
        return DFBPNN(
            (arch["channels"], arch["patch"], arch["patch"]), depth=arch["depth"],
            features=arch["features"], kernel_size=arch.get("kernel_size", 3),
            nu=arch.get("nu", 0.05), inertial=name == "dfb-inertial",
        )
    if name == "sccp":
        return SccpPNN((arch["channels"], arch["patch"], arch["patch"]), depth=arch["depth"],
                       features=arch["features"], kernel_size=arch.get("kernel_size", 3),
                       nu=arch.get("nu", 0.01), mu=arch.get("mu", 1.0))
    if name == "dncnn":
        import deepinv as dinv

        return DnCNNDenoiser(dinv.models.DnCNN(arch["channels"], arch["channels"], depth=arch["depth"],
                                        nf=arch["features"], pretrained=None))
    raise ValueError(f"unknown denoiser {name!r}; choose one of {DENOISERS}")


class DnCNNDenoiser(torch.nn.Module):
    """deepinv's DnCNN called as ``net(z)`` like the other denoisers."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def n_parameters(network: torch.nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())
