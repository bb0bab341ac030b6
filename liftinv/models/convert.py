r"""Conversion of plain PyTorch networks into lifted networks, and network prefixes.

:func:`from_sequential` reads an ``nn.Sequential`` of ``nn.Linear``, ``nn.Conv2d`` and
proximal activations (``nn.ReLU``, ``LeakyReLU``, ``Hardtanh``/``ReLU6``, ``Sigmoid``,
``Tanh``, ``Softshrink``, ``Identity``) and builds the :class:`~liftinv.models.LiftedNetwork`
computing the same function, with copied weights:

* each affine module and the activation that follows it form one layer
  :math:`x_l = \sigma_l(A_lx_{l-1} + b_l)`; an affine module not followed by an activation
  gets the identity; an activation not preceded by an affine module reads its input
  through the identity map;
* ``nn.BatchNorm1d/2d`` in eval mode is folded into the preceding affine map,
  :math:`\gamma(Ax + b - \mu)/\sqrt{s^2+\epsilon} + \beta`; in training mode it is
  refused (its output depends on the batch, so the network is not a fixed map);
* ``nn.Flatten``, ``nn.Identity`` and eval-mode ``nn.Dropout`` are no-ops here.

Anything else raises :class:`ConversionError` naming the module's index, its type and why.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..activations import NotProximalError, get_activation
from .linear_maps import Conv2d, Dense, IdentityMap
from .network import Layer, LiftedNetwork

__all__ = ["ConversionError", "from_sequential", "prefix_network", "as_lifted"]


class ConversionError(ValueError):
    """A module of an ``nn.Sequential`` that cannot be expressed as a lifted layer."""


def _dense(mod: nn.Linear) -> Dense:
    d = Dense(mod.in_features, mod.out_features, bias=mod.bias is not None)
    with torch.no_grad():
        d.weight.copy_(mod.weight)
        if mod.bias is not None:
            d.bias.copy_(mod.bias)
    return d.to(mod.weight)


def _conv(i: int, mod: nn.Conv2d) -> Conv2d:
    k, s, p = mod.kernel_size, mod.stride, mod.padding
    why = None
    if isinstance(p, str):
        why = f"string padding {p!r} (give an integer padding)"
    elif k[0] != k[1] or s[0] != s[1] or p[0] != p[1]:
        why = f"non-square kernel/stride/padding {k}/{s}/{p}"
    elif mod.groups != 1 or tuple(mod.dilation) != (1, 1):
        why = f"groups={mod.groups}, dilation={mod.dilation} (only 1 and (1, 1) are supported)"
    elif mod.padding_mode != "zeros":
        why = f"padding_mode={mod.padding_mode!r} (only 'zeros' has the transposed convolution as adjoint)"
    if why:
        raise ConversionError(f"module {i} (nn.Conv2d) cannot be converted: {why}")
    c = Conv2d(mod.in_channels, mod.out_channels, k[0], stride=s[0], padding=p[0], bias=mod.bias is not None)
    with torch.no_grad():
        c.weight.copy_(mod.weight)
        if mod.bias is not None:
            c.bias.copy_(mod.bias)
    return c.to(mod.weight)


@torch.no_grad()
def _fold_batchnorm(i: int, bn: nn.modules.batchnorm._BatchNorm, amap) -> None:
    name = type(bn).__name__
    if bn.training:
        raise ConversionError(
            f"module {i} (nn.{name}) is in training mode: its output depends on the batch "
            "statistics, so the network is not a fixed map; call model.eval() first"
        )
    if amap is None or isinstance(amap, IdentityMap):
        raise ConversionError(f"module {i} (nn.{name}) must follow an nn.Linear or nn.Conv2d to be folded")
    if bn.running_mean is None:
        raise ConversionError(f"module {i} (nn.{name}) has no running statistics (track_running_stats=False)")
    scale = 1.0 / torch.sqrt(bn.running_var + bn.eps)
    if bn.affine:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale + (bn.bias if bn.affine else 0.0)
    if amap.weight.shape[0] != scale.shape[0]:
        raise ConversionError(f"module {i} (nn.{name}) has {scale.shape[0]} features, "
                              f"the preceding map {amap.weight.shape[0]}")
    amap.weight.mul_(scale.view((-1,) + (1,) * (amap.weight.dim() - 1)))
    if amap.bias is None:
        amap.bias = nn.Parameter(shift.clone())
    else:
        amap.bias.mul_(scale).add_(shift)


def from_sequential(model: nn.Module, in_shape: Sequence[int]) -> LiftedNetwork:
    """The :class:`LiftedNetwork` computing ``model`` (an ``nn.Sequential``) on inputs of
    per-sample shape ``in_shape``; weights are copied (the result does not share them).

    Raises :class:`ConversionError` (a ``ValueError``) naming the offending module index
    and type; a non-proximal activation (GELU, SiLU, ...) raises a ``ConversionError``
    that is also a :class:`~liftinv.activations.NotProximalError`.
    """
    if isinstance(model, LiftedNetwork):
        return model
    if not isinstance(model, nn.Sequential):
        raise ConversionError(f"from_sequential expects an nn.Sequential, got {type(model).__name__}")
    layers: list[Layer] = []
    amap, act = None, None  # the pending affine map and its activation

    def close():
        nonlocal amap, act
        if amap is not None:
            layers.append(Layer(amap, act if act is not None else "identity"))
        amap, act = None, None

    for i, mod in enumerate(model):
        kind = type(mod).__name__
        if isinstance(mod, (nn.Flatten, nn.Identity)):
            continue
        if isinstance(mod, nn.Dropout):
            if mod.training and mod.p > 0:
                raise ConversionError(f"module {i} (nn.{kind}) is in training mode (random); call model.eval()")
            continue
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            close()
            amap = _dense(mod) if isinstance(mod, nn.Linear) else _conv(i, mod)
            continue
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            if act is not None:
                raise ConversionError(f"module {i} (nn.{kind}) follows an activation; only BatchNorm "
                                      "directly after nn.Linear/nn.Conv2d can be folded")
            _fold_batchnorm(i, mod, amap)
            continue
        try:
            prox = get_activation(mod)
        except NotProximalError as err:
            raise type("NotProximalConversionError", (ConversionError, NotProximalError), {})(
                f"module {i} (nn.{kind}) is not a proximal activation: {err}") from err
        except ValueError as err:
            raise ConversionError(f"module {i} (nn.{kind}) cannot be converted to a lifted layer: "
                                  "only nn.Linear, nn.Conv2d, eval-mode BatchNorm and proximal "
                                  f"activations are supported ({err})") from err
        if amap is None:  # activation without a preceding affine map, e.g. two in a row
            amap = IdentityMap()
        elif act is not None:
            close()
            amap = IdentityMap()
        act = prox
        close()
    close()
    if not layers:
        raise ConversionError("the nn.Sequential has no nn.Linear, nn.Conv2d or activation module")
    net = LiftedNetwork(layers, in_shape=in_shape)
    p = next(model.parameters(), None)
    return net.to(p.device) if p is not None else net


def prefix_network(network: LiftedNetwork, layer: int) -> LiftedNetwork:
    """The first ``layer`` layers of ``network`` (sharing their modules): its output is
    the state :math:`x_{layer}`, the features inverted by "inversion from layer l"."""
    if not 1 <= layer <= network.depth:
        raise ValueError(f"layer must be in [1, {network.depth}], got {layer}")
    if layer == network.depth:
        return network
    return LiftedNetwork(list(network.layers[:layer]), in_shape=network.in_shape)


def as_lifted(network: nn.Module, in_shape: Sequence[int] | None = None, layer: int | None = None) -> LiftedNetwork:
    """A :class:`LiftedNetwork` from a lifted network or an ``nn.Sequential`` (needs
    ``in_shape``), optionally cut after ``layer``."""
    if not isinstance(network, LiftedNetwork):
        if in_shape is None:
            raise ValueError("in_shape is required to convert an nn.Sequential")
        network = from_sequential(network, in_shape)
    return prefix_network(network, layer) if layer is not None else network
