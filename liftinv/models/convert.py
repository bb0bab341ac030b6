r"""Conversion of plain PyTorch networks into lifted networks, and network prefixes.

:func:`from_sequential` reads an ``nn.Sequential`` of affine modules (``nn.Linear``,
``nn.Conv2d``, ``nn.ConvTranspose2d``, ``nn.AvgPool2d``, ``nn.Upsample``, ``nn.Unflatten``, ...)
and proximal activations (``nn.ReLU``, ``LeakyReLU``/``PReLU``, ``ELU``, ``Hardtanh``/``ReLU6``,
``Sigmoid``, ``Tanh``, ``Softshrink``, ``Identity``) and builds the
:class:`~liftinv.models.LiftedNetwork` computing the same function, with copied weights.  It is
the chain case of :func:`~liftinv.models.from_module` (:mod:`liftinv.models.fx_convert`, which
describes the rules), with errors naming the module by its index:

* each parametrised affine module and the activation that follows it form one layer
  :math:`x_l = \sigma_l(A_lx_{l-1} + b_l)` (parameter-free maps such as pooling join it); an
  affine module not followed by an activation gets the identity; an activation not preceded
  by an affine module reads its input through the identity map;
* ``nn.BatchNorm1d/2d`` in eval mode is folded into the preceding affine map,
  :math:`\gamma(Ax + b - \mu)/\sqrt{s^2+\epsilon} + \beta` (:func:`fold_batchnorm`); in
  training mode it is refused (its output depends on the batch, so the network is not a fixed map);
* ``nn.Flatten``, ``nn.Identity`` and eval-mode ``nn.Dropout`` are no-ops here.

Anything else raises :class:`ConversionError` naming the module's index, its type and why.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from ..activations import NotProximalError
from .linear_maps import AdaptiveAvgPool2d, AvgPool2d, Conv2d, ConvTranspose2d, Dense, LinearMap, Upsample
from .network import LiftedNetwork

__all__ = ["ConversionError", "NotProximalConversionError", "from_sequential", "prefix_network", "as_lifted",
           "torch_affine_map", "fold_batchnorm"]


class ConversionError(ValueError):
    """A module (or traced node) that cannot be expressed as part of a lifted network."""


class NotProximalConversionError(ConversionError, NotProximalError):
    """A conversion refused because an activation is not a proximal map."""


def _refuse(label: str, why: str) -> ConversionError:
    return ConversionError(f"{label} cannot be converted: {why}")


def _check_padding_mode(label: str, mod: nn.Module) -> None:
    if mod.padding_mode != "zeros":
        raise _refuse(label, f"padding_mode={mod.padding_mode!r} (only 'zeros' has the transposed "
                             "convolution as adjoint)")


def _conv(label: str, mod: nn.Conv2d) -> Conv2d:
    _check_padding_mode(label, mod)
    pad = mod.padding
    if pad == "valid":
        pad = (0, 0)
    elif pad == "same":
        total = [d * (k - 1) for d, k in zip(mod.dilation, mod.kernel_size)]
        if any(t % 2 for t in total):
            raise _refuse(label, "padding='same' with an even kernel pads asymmetrically (give an integer padding)")
        pad = tuple(t // 2 for t in total)
    clone = copy.copy(mod)
    clone.padding = pad
    return Conv2d.from_torch(clone)


def torch_affine_map(label: str, mod: nn.Module) -> LinearMap | None:
    """The :class:`LinearMap` of a torch affine module, weights copied (``None`` if ``mod`` is
    not one): ``nn.Linear``, ``nn.Conv2d``, ``nn.ConvTranspose2d``, ``nn.AvgPool2d``,
    ``nn.AdaptiveAvgPool2d``, ``nn.Upsample`` (nearest, bilinear).  ``label`` names the module
    in the :class:`ConversionError` for options that have no exact adjoint here."""
    if isinstance(mod, nn.Linear):
        return _dense(mod)
    if isinstance(mod, nn.Conv2d):
        return _conv(label, mod)
    if isinstance(mod, nn.ConvTranspose2d):
        _check_padding_mode(label, mod)
        return ConvTranspose2d.from_torch(mod)
    if isinstance(mod, nn.AvgPool2d):
        return AvgPool2d.from_torch(mod)
    if isinstance(mod, nn.AdaptiveAvgPool2d):
        return AdaptiveAvgPool2d(mod.output_size)
    if isinstance(mod, nn.Upsample):
        if mod.mode not in Upsample.MODES:
            raise _refuse(label, f"mode={mod.mode!r} (only {Upsample.MODES} are supported)")
        return Upsample.from_torch(mod)
    return None


def _dense(mod: nn.Linear) -> Dense:
    d = Dense(mod.in_features, mod.out_features, bias=mod.bias is not None)
    with torch.no_grad():
        d.weight.copy_(mod.weight)
        if mod.bias is not None:
            d.bias.copy_(mod.bias)
    return d.to(mod.weight)


@torch.no_grad()
def fold_batchnorm(label: str, bn: nn.modules.batchnorm._BatchNorm, amap=None):
    r"""The per-channel ``(scale, shift)`` of an eval-mode BatchNorm,
    :math:`\gamma(u - \mu)/\sqrt{s^2+\epsilon} + \beta`; folded into ``amap`` (a ``Dense``,
    ``Conv2d`` or ``ConvTranspose2d``, modified in place) when one is given."""
    if bn.training:
        raise ConversionError(
            f"{label} is in training mode: its output depends on the batch "
            "statistics, so the network is not a fixed map; call model.eval() first"
        )
    if bn.running_mean is None:
        raise ConversionError(f"{label} has no running statistics (track_running_stats=False)")
    scale = 1.0 / torch.sqrt(bn.running_var + bn.eps)
    if bn.affine:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale + (bn.bias if bn.affine else 0.0)
    if amap is None:
        return scale.detach(), shift.detach()
    w = amap.weight
    if isinstance(amap, ConvTranspose2d):  # weight (in, out / groups, kh, kw): output channels in dim 1
        g = amap.groups
        view = w.view((g, w.shape[0] // g) + tuple(w.shape[1:]))
        n_out, target = w.shape[1] * g, view
        shape = (g, 1, w.shape[1]) + (1,) * (w.dim() - 2)
    else:
        n_out, target, shape = w.shape[0], w, (-1,) + (1,) * (w.dim() - 1)
    if n_out != scale.shape[0]:
        raise ConversionError(f"{label} has {scale.shape[0]} features, the preceding map {n_out}")
    target.mul_(scale.view(shape))
    if amap.bias is None:
        amap.bias = nn.Parameter(shift.clone())
    else:
        amap.bias.mul_(scale).add_(shift)
    return scale.detach(), shift.detach()


def from_sequential(model: nn.Module, in_shape: Sequence[int]) -> LiftedNetwork:
    """The :class:`LiftedNetwork` computing ``model`` (an ``nn.Sequential``) on inputs of
    per-sample shape ``in_shape``; weights are copied (the result does not share them).

    The case of :func:`~liftinv.models.from_module` for a chain of modules: each affine
    module and the activation that follows it form one layer.  Raises
    :class:`ConversionError` (a ``ValueError``) naming the offending module index and type; a
    non-proximal activation (GELU, SiLU, ...) raises a ``ConversionError`` that is also a
    :class:`~liftinv.activations.NotProximalError`.
    """
    if isinstance(model, LiftedNetwork):
        return model
    if not isinstance(model, nn.Sequential):
        raise ConversionError(f"from_sequential expects an nn.Sequential, got {type(model).__name__}")
    if all(isinstance(mod, (nn.Flatten, nn.Identity, nn.Dropout)) for mod in model):
        raise ConversionError("the nn.Sequential has no nn.Linear, nn.Conv2d or activation module")
    from .fx_convert import from_module

    return from_module(model, in_shape, _sequential=True)


def prefix_network(network: LiftedNetwork, layer: int) -> LiftedNetwork:
    """The first ``layer`` layers of ``network`` (sharing their modules): its output is
    the state :math:`x_{layer}`, the features inverted by "inversion from layer l"."""
    if not 1 <= layer <= network.depth:
        raise ValueError(f"layer must be in [1, {network.depth}], got {layer}")
    if layer == network.depth:
        return network
    return LiftedNetwork(list(network.layers[:layer]), in_shape=network.in_shape)


def as_lifted(network: nn.Module, in_shape: Sequence[int] | None = None, layer: int | None = None) -> LiftedNetwork:
    """A :class:`LiftedNetwork` from a lifted network or any torch module that
    :func:`~liftinv.models.from_module` converts (needs ``in_shape``), optionally cut after ``layer``."""
    if not isinstance(network, LiftedNetwork):
        if in_shape is None:
            raise ValueError(f"in_shape is required to convert a {type(network).__name__}")
        if isinstance(network, nn.Sequential):
            network = from_sequential(network, in_shape)
        else:
            from .fx_convert import from_module

            network = from_module(network, in_shape)
    return prefix_network(network, layer) if layer is not None else network
