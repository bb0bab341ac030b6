r"""Conversion of any traceable ``nn.Module`` into a lifted network with skips (:func:`from_module`).

``torch.fx`` traces the module into a graph; every node's value is then kept as an **affine
expression of the lifted states**, :math:`e = \sum_m M_m x_m` (one :class:`LinearMap` per state it
reads, biases inside the maps), starting from :math:`e = x_0` at the input:

* an affine node (``nn.Linear``, ``nn.Conv2d``, ``nn.ConvTranspose2d``, ``nn.AvgPool2d``,
  ``nn.AdaptiveAvgPool2d``, ``nn.Upsample``, ``nn.Flatten``/``nn.Unflatten``/``view``/
  ``reshape``/``flatten``, negation, an eval-mode ``BatchNorm``) composes with the maps of its
  argument;
* a product with, a division by, or a sum with a **constant** (a number, or a tensor that does not
  depend on the input: a buffer, a parameter read at its current value, a tensor built in
  ``forward``; nodes computed from constants alone, ``mean.view(1, -1, 1, 1)`` or ``1 / std``, are
  evaluated), as in an input normalisation ``(x - mean) / std``, is the affine map
  :math:`s \odot e + t`: a :class:`~liftinv.models.linear_maps.Scale` for a number, otherwise an
  :class:`~liftinv.models.linear_maps.ElementwiseAffine` (constants that broadcast to the value's
  own shape, e.g. ``(1, C, 1, 1)``; consecutive ones merge into one map); over several states the
  shift enters one of their maps.  Casts that keep the dtype (``x.float()``, ``x.to(dtype)``,
  ``x.type_as(y)``) and ``contiguous``/``clone`` are no-ops;
* an addition or subtraction of two values adds the expressions (two maps reading one state
  become one :class:`~liftinv.models.composite_maps.SumMap`);
* a concatenation (``torch.cat`` along a dimension other than the batch's, as in U-Net skips)
  concatenates them: every state read by any part gets a
  :class:`~liftinv.models.composite_maps.CatMap` of the parts' maps for it, a
  :class:`~liftinv.models.linear_maps.ZeroMap` where a part does not read it;
* a proximal activation (module or functional: ``F.relu``, ``torch.sigmoid``, ``F.elu``, ...)
  **closes a layer**: the next layer :math:`l` reads :math:`x_{l-1}` through the expression's map
  for that state (a :class:`~liftinv.models.linear_maps.ZeroMap` if it has none) and every
  earlier state through a skip map (so a skip source is always at most :math:`l - 2`), and its
  output, the new state :math:`x_l`, is the value of the node;
* the output closes a last layer with the identity activation unless it is already the last state.

Parameter-free maps compose freely (with each other and with one parametrised map), so
``Upsample -> Conv2d -> ReLU`` is one layer and ``x - f(x)`` (deepinv's DnCNN) is the last layer
reading both :math:`x_{L-1}` and :math:`x_0`.  A parametrised map (``Linear``, ``Conv2d``,
``ConvTranspose2d``) applied to an expression that already holds one, or to a sum of several
states, first closes that expression into an identity-activation layer: every layer stays linear
in its own parameters (as :class:`~liftinv.solvers.BCD` expects), exactly as
:func:`~liftinv.models.from_sequential` gives a layer to each affine module.  A ``BatchNorm`` is
folded into the convolution or dense map just before it, or else becomes a per-channel
:class:`~liftinv.models.linear_maps.ChannelAffine` map.  After the conversion the lifted network
is run once on a random input next to the module; a mismatch raises.

Anything else raises :class:`~liftinv.models.convert.ConversionError` naming the node (the
module's qualified name and type, or the function), why, and (for what no rule here converts, a
product of two network values, a module torch.fx cannot trace) the remedy: ``invert_gradient``.

This module holds the entry point (tracing, shapes, the final check); the conversion itself is
:class:`~liftinv.models.fx_converter._Converter` (the graph walk), built on the rules of
:mod:`~liftinv.models.fx_constants` and :mod:`~liftinv.models.fx_layers`, the expressions of
:mod:`~liftinv.models.fx_expr`, the tables of :mod:`~liftinv.models.fx_functions` and the
messages of :mod:`~liftinv.models.fx_messages`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from ..activations import ProxActivation
from .convert import ConversionError
from .fx_converter import _Converter
from .fx_messages import _REMEDY
from .linear_maps import IdentityMap, LinearMap, Reshape
from .network import LiftedNetwork

__all__ = ["from_module"]


class _Tracer(fx.Tracer):
    """torch's leaves plus liftinv's own activations and linear maps."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (ProxActivation, LinearMap)) or super().is_leaf_module(m, qualname)


def _propagate(gm: fx.GraphModule, model: nn.Module, sample: torch.Tensor, sequential: bool) -> torch.Tensor:
    """Record every node's shape (``ShapeProp``) on ``sample``; returns the input used.  A chain
    that starts with ``nn.Linear`` reads its input flattened, as :class:`Dense` does."""
    first = next(iter(model), None) if sequential else None
    if isinstance(first, nn.Linear) and sample.dim() > 2 and first.in_features == sample[0].numel():
        sample = sample.flatten(1)
    with torch.no_grad():
        try:  # a plain run of the module first: ShapeProp and the traced module print tracebacks of their own
            model(sample.clone())  # (clones: an in-place operation on the input must not change it)
        except Exception as err:
            raise ConversionError(f"{type(model).__name__} does not run on inputs of shape (batch, "
                                  f"{', '.join(map(str, sample.shape[1:]))}): {err}") from err
        ShapeProp(gm).propagate(sample.clone())
    return sample


def _per_sample_shape(in_shape) -> tuple[int, ...]:
    """``in_shape`` as a tuple of positive ints, or a :class:`ConversionError` saying what it must be."""
    remedy = "in_shape is the shape of ONE input without the batch dimension, e.g. (1, 32, 32)"
    if isinstance(in_shape, torch.Tensor):
        raise ConversionError(f"{remedy}; got a tensor (pass x.shape[1:] for a batch x)")
    try:
        if isinstance(in_shape, str):
            raise TypeError
        shape = tuple(int(s) for s in in_shape)
    except (TypeError, ValueError):
        raise ConversionError(f"{remedy}; got {in_shape!r}") from None
    if not shape or min(shape) < 1:
        raise ConversionError(f"{remedy}; got {in_shape!r}")
    return shape


def from_module(model: nn.Module, in_shape: Sequence[int], *, check: bool = True,
                _sequential: bool = False) -> LiftedNetwork:
    """The :class:`LiftedNetwork` computing ``model`` on inputs of per-sample shape ``in_shape``
    (weights copied), with a skip connection wherever the traced graph adds earlier values.

    ``check`` runs both networks on a random input and raises if they differ.  Raises
    :class:`ConversionError` naming the node and why (a non-proximal activation raises one that
    is also a :class:`~liftinv.activations.NotProximalError`).  See the module docstring for
    what converts.
    """
    if isinstance(model, LiftedNetwork):
        return model
    if not isinstance(model, nn.Module):
        raise ConversionError(f"from_module expects an nn.Module, got {type(model).__name__}")
    in_shape = _per_sample_shape(in_shape)
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # control flow on tensor values, unsupported Python
        raise ConversionError(f"torch.fx cannot trace {type(model).__name__} (Python control flow on tensor values "
                              f"or code torch.fx does not follow): {err}; {_REMEDY}") from err
    gm = fx.GraphModule(model, graph)
    p = next(model.parameters(), None)
    like = p if p is not None and p.is_floating_point() else torch.zeros(())
    sample = torch.rand((2,) + in_shape, generator=torch.Generator().manual_seed(0)).to(like)
    model_in = _propagate(gm, model, sample, _sequential)
    conv = _Converter(model, in_shape, _sequential, gm)
    conv.run(gm.graph, input_map=Reshape(model_in.shape[1:]) if model_in.shape != sample.shape else IdentityMap())
    if not conv.layers:
        raise ConversionError(f"{type(model).__name__} has no affine map or activation")
    net = LiftedNetwork(conv.layers, in_shape=in_shape).to(device=like.device, dtype=like.dtype)
    if check:
        with torch.no_grad():
            ref, out = model(model_in.clone()), net(sample)
        if not isinstance(ref, torch.Tensor) or ref.shape != out.shape or not torch.allclose(
                out, ref, rtol=1e-4, atol=1e-4 * (1 + float(ref.abs().max()))):
            raise ConversionError(f"the lifted network does not reproduce {type(model).__name__}: an operation "
                                  "was traced as affine that is not (a value aliased by a view and changed in "
                                  "place, an argument liftinv does not read); invert it with invert_gradient")
    return net

