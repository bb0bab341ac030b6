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
"""

from __future__ import annotations

import copy
import inspect
import math
import operator
from collections.abc import Sequence

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from ..activations import NotProximalError, ProxActivation, get_activation
from ..activations.registry import PROXIMAL_MODULES
from .composite_maps import CatMap, ChainMap, SumMap
from .convert import ConversionError, NotProximalConversionError, fold_batchnorm, torch_affine_map
from .linear_maps import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    ChannelAffine,
    Conv2d,
    ConvTranspose2d,
    Dense,
    ElementwiseAffine,
    IdentityMap,
    LinearMap,
    Reshape,
    Scale,
    Upsample,
    ZeroMap,
)
from .network import Layer, LiftedNetwork

__all__ = ["from_module"]

_PARAMETRISED = (Dense, Conv2d, ConvTranspose2d)


class _Tracer(fx.Tracer):
    """torch's leaves plus liftinv's own activations and linear maps."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (ProxActivation, LinearMap)) or super().is_leaf_module(m, qualname)


# ------------------------------------------------------------------------- expressions
def _factors(amap: LinearMap) -> list[LinearMap]:
    return list(amap.maps) if isinstance(amap, ChainMap) else [amap]


def _diagonal(amap: Scale | ElementwiseAffine) -> tuple:
    """``(scale, shift)`` of a diagonal map (numbers or tensors, ``None`` for 1 and 0)."""
    return (amap.c, None) if isinstance(amap, Scale) else (amap.scale, amap.shift)


def _merge_diagonal(inner: Scale | ElementwiseAffine, outer: Scale | ElementwiseAffine) -> LinearMap:
    """``outer o inner`` for two diagonal maps: :math:`s_2(s_1 x + t_1) + t_2` as one map."""
    if isinstance(inner, Scale) and isinstance(outer, Scale):
        return Scale(inner.c * outer.c)
    (s1, t1), (s2, t2) = _diagonal(inner), _diagonal(outer)
    scale = s1 if s2 is None else s2 if s1 is None else s1 * s2
    shift = t1 if t1 is None or s2 is None else t1 * s2
    shift = t2 if shift is None else shift if t2 is None else shift + t2
    ref = next(c for c in (scale, shift) if isinstance(c, torch.Tensor))  # an ElementwiseAffine has one
    if isinstance(scale, float):
        scale = torch.tensor(scale, dtype=ref.dtype, device=ref.device)
    return ElementwiseAffine(scale, shift)


def _compose(outer: LinearMap, inner: LinearMap) -> LinearMap:
    """``outer o inner``, simplified: identities dropped, reshapes merged, a reshape before a
    dense map dropped (it flattens), scalings and elementwise affine maps multiplied into one."""
    out: list[LinearMap] = []
    for amap in _factors(inner) + _factors(outer):
        prev = out[-1] if out else None
        if isinstance(amap, IdentityMap):
            continue
        if isinstance(prev, Reshape) and isinstance(amap, (Reshape, Dense)):
            out[-1] = amap
        elif isinstance(prev, (Scale, ElementwiseAffine)) and isinstance(amap, (Scale, ElementwiseAffine)):
            out[-1] = _merge_diagonal(prev, amap)
        else:
            out.append(amap)
    if not out:
        return IdentityMap()
    return out[0] if len(out) == 1 else ChainMap(out)


def _has_parameters(amap: LinearMap) -> bool:
    return next(amap.parameters(), None) is not None


class _Expr:
    """:math:`\\sum_m M_m x_m`: ``terms`` maps a state index to the map reading it."""

    def __init__(self, terms: dict[int, LinearMap]) -> None:
        self.terms = dict(terms)

    def apply(self, amap: LinearMap) -> _Expr:
        """``amap`` after the expression; over several terms only for a bias-free map (the
        converter closes a sum into one state before a map with parameters)."""
        return _Expr({m: _compose(amap, inner) for m, inner in self.terms.items()})

    def __add__(self, other: _Expr) -> _Expr:
        terms = dict(self.terms)
        for m, amap in other.terms.items():
            if m in terms:
                parts = [p for t in (terms[m], amap) for p in (t.maps if isinstance(t, SumMap) else [t])]
                terms[m] = SumMap(parts)
            else:
                terms[m] = amap
        return _Expr(terms)

    @staticmethod
    def cat(parts: list[_Expr], shapes: list[tuple[int, ...]], dim: int) -> _Expr:
        """The parts (of per-sample output shapes ``shapes``) concatenated along ``dim``."""
        states = sorted({m for e in parts for m in e.terms})
        return _Expr({m: CatMap([e.terms[m] if m in e.terms else ZeroMap(s) for e, s in zip(parts, shapes)], dim)
                      for m in states})


class _Converter:
    def __init__(self, model: nn.Module, in_shape: tuple[int, ...], sequential: bool,
                 gm: fx.GraphModule | None = None) -> None:
        self.model, self.sequential = model, sequential
        self.gm = gm if gm is not None else model  # holds the traced constants (get_attr targets)
        self.layers: list[Layer] = []
        self.shapes: list[tuple[int, ...]] = [in_shape]
        self.values: dict[fx.Node, object] = {}
        self.consts: dict[fx.Node, object] = {}  # nodes that do not depend on the input: their values
        self.aliases: dict[fx.Node, set[fx.Node]] = {}  # nodes that are one tensor changed in place

    # -- naming ------------------------------------------------------------------------------
    def label(self, node: fx.Node) -> str:
        if node.op == "call_module":
            kind = type(self.model.get_submodule(node.target)).__name__
            return f"module {node.target} (nn.{kind})" if self.sequential else f"nn.{kind} at {node.target!r}"
        if node.op == "call_method":
            return f"Tensor.{node.target} at node {node.name!r}"
        fn = node.target
        module = (getattr(fn, "__module__", None) or "torch").replace("_operator", "operator")
        return f"{module}.{getattr(fn, '__name__', fn)} at node {node.name!r}"

    def fail(self, node: fx.Node, why: str) -> ConversionError:
        return ConversionError(f"{self.label(node)} {why}")

    # -- layers ------------------------------------------------------------------------------
    def close(self, expr: _Expr, act, node: fx.Node | None = None) -> _Expr:
        """Append the layer ``x_l = act(expr)``; its value is the new state."""
        li = len(self.layers) + 1
        terms = dict(expr.terms)
        shapes = {tuple(amap.out_shape(self.shapes[m])) for m, amap in terms.items()}
        if len(shapes) != 1:
            where = self.label(node) if node else "the output"
            raise ConversionError(f"{where} adds values of shapes {sorted(shapes)}")
        (out,) = shapes
        main = terms.pop(li - 1) if li - 1 in terms else ZeroMap(out)
        self.layers.append(Layer(main, act, skip=sorted(terms.items()) or None))
        self.shapes.append(out)
        return _Expr({li: IdentityMap()})

    def as_single(self, expr: _Expr) -> _Expr:
        """The expression as one state read through at most parameter-free maps: an identity
        layer closes it otherwise (before a parametrised map, so layers stay linear in theirs)."""
        if len(expr.terms) == 1 and not any(_has_parameters(m) for m in expr.terms.values()):
            return expr
        return self.close(expr, "identity")

    # -- node handlers -------------------------------------------------------------------------
    def expr(self, node: fx.Node, arg) -> _Expr:
        value = self.values.get(arg) if isinstance(arg, fx.Node) else arg
        if not isinstance(value, _Expr):
            what = "a constant tensor" if isinstance(arg, fx.Node) and arg in self.consts else repr(arg)
            raise self.fail(node, f"uses {what} as a tensor operand; only affine functions of the network "
                                  "input (and numbers as factors) are supported")
        return value

    def affine(self, node: fx.Node, amap: LinearMap, arg) -> _Expr:
        e = self.expr(node, arg)
        if _has_parameters(amap):
            e = self.as_single(e)
        return e.apply(amap)

    def batchnorm(self, node: fx.Node, bn: nn.modules.batchnorm._BatchNorm, arg) -> _Expr:
        label = self.label(node)
        e = self.expr(node, arg)
        if len(e.terms) == 1:
            ((m, amap),) = e.terms.items()
            factors = _factors(amap)
            if isinstance(factors[-1], _PARAMETRISED):
                factors[-1] = copy.deepcopy(factors[-1])  # the map may be read elsewhere unnormalised
                fold_batchnorm(label, bn, factors[-1])
                return _Expr({m: factors[0] if len(factors) == 1 else ChainMap(factors)})
        scale, shift = fold_batchnorm(label, bn, None)
        return self.affine(node, ChannelAffine(scale, shift), arg)

    def reshape(self, node: fx.Node, arg) -> _Expr:
        src, out = node.args[0].meta.get("tensor_meta"), node.meta.get("tensor_meta")
        if src is None or out is None:
            raise self.fail(node, "has no tensor shape")
        if out.shape[0] != src.shape[0] or math.prod(out.shape[1:]) != math.prod(src.shape[1:]):
            raise self.fail(node, f"reshapes {tuple(src.shape)} to {tuple(out.shape)}, mixing the batch dim; only "
                                  "per-sample reshapes are affine maps of one sample")
        if tuple(out.shape) == tuple(src.shape):
            return self.expr(node, arg)
        return self.affine(node, Reshape(out.shape[1:]), arg)

    def cat(self, node: fx.Node, args, kwargs) -> _Expr:
        parts, dim = _arg(args, kwargs, 0, "tensors", ()), _arg(args, kwargs, 1, "dim", 0)
        ndim = len(node.meta["tensor_meta"].shape)
        if not isinstance(dim, int) or dim % ndim == 0:
            raise self.fail(node, f"concatenates along dim {dim!r}; only a per-sample dimension (not the batch's, "
                                  "dim 0) is an affine map of one sample")
        exprs = [self.expr(node, part) for part in parts]
        if len(exprs) == 1:
            return exprs[0]
        shapes = [tuple(part.meta["tensor_meta"].shape[1:]) for part in parts]
        return _Expr.cat(exprs, shapes, dim % ndim - 1)

    def activation(self, node: fx.Node, module: nn.Module, arg) -> _Expr:
        try:
            act = get_activation(module)
        except NotProximalError as err:
            raise NotProximalConversionError(f"{self.label(node)} is not a proximal activation: {err}") from err
        except ValueError as err:
            if not str(err).startswith("Cannot convert"):  # a reason of its own (Softmax's dim, Softplus ...)
                raise self.fail(node, f"cannot be part of a lifted network: {err}") from err
            raise self.fail(node, _NOT_LIFTED) from err
        return self.close(self.expr(node, arg), act, node)

    def call_module(self, node: fx.Node):
        mod = self.model.get_submodule(node.target)
        if len(node.args) + len(node.kwargs) != 1:
            raise self.fail(node, "is called with several arguments; only one tensor argument is supported")
        arg = node.args[0]
        if isinstance(mod, nn.modules.dropout._DropoutNd):
            if mod.training and mod.p > 0:
                raise self.fail(node, "is in training mode (random); call model.eval()")
            return self.expr(node, arg)
        if isinstance(mod, nn.Identity):
            return self.expr(node, arg)
        if isinstance(mod, (nn.Flatten, nn.Unflatten)):
            return self.reshape(node, arg)
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            return self.batchnorm(node, mod, arg)
        if isinstance(mod, LinearMap):
            return self.affine(node, copy.deepcopy(mod), arg)
        if isinstance(mod, nn.Linear):  # torch applies it to the last dim; a lifted Dense reads a flat input
            src = arg.meta.get("tensor_meta") if isinstance(arg, fx.Node) else None
            if src is not None and len(src.shape) > 2:
                raise self.fail(node, f"is applied to inputs of shape {tuple(src.shape)}: torch maps their last "
                                      "dimension, a lifted dense layer reads the whole sample flat; put nn.Flatten() "
                                      "before it")
        amap = torch_affine_map(self.label(node), mod)
        if amap is not None:
            return self.affine(node, amap, arg)
        return self.activation(node, mod, arg)

    def constant(self, arg):
        """The value of ``arg`` if it is a constant operand (a number, or a tensor that does not depend
        on the input: a buffer, a parameter read as a constant, a tensor built in ``forward``), else None."""
        if isinstance(arg, fx.Node):
            value = self.consts.get(arg)
            return value if isinstance(value, torch.Tensor) else None
        return arg if isinstance(arg, (int, float)) and not isinstance(arg, bool) else None

    def same_dtype(self, node: fx.Node, src: fx.Node, cast: bool) -> None:
        """Refuse a node whose result has another dtype than its network operand ``src``."""
        a, b = src.meta["tensor_meta"].dtype, node.meta["tensor_meta"].dtype
        if a != b:
            how = "casts" if cast else "computes with a constant that promotes"
            fix = "remove the cast" if cast else f"give the constant the dtype {a}"
            raise self.fail(node, f"{how} the network's values from {a} to {b}: a lifted network computes in one "
                                  f"dtype; {fix}, or convert the module in the dtype it computes in "
                                  "(module.to(dtype))")

    def per_sample(self, node: fx.Node, c, ndim: int, dtype: torch.dtype):
        """A constant operand as it acts on one sample: a number, or a tensor without a batch dim."""
        if not isinstance(c, torch.Tensor):
            return float(c)
        c = c.detach()
        if c.dim() == ndim:
            if c.shape[0] != 1:
                raise self.fail(node, f"uses a constant of shape {tuple(c.shape)}, which differs along the batch "
                                      "dim; only constants of one sample's shape (batch dim 1) are affine maps "
                                      "of one sample")
            c = c[0]
        return c.to(dtype)

    def constant_affine(self, node: fx.Node, operand: fx.Node, scale=None, shift=None) -> _Expr:
        """``scale * operand + shift`` for constants ``scale``, ``shift`` (numbers or tensors, None: 1
        and 0): a :class:`Scale` (a number) or an :class:`ElementwiseAffine` composed with the
        operand's maps; over several states, ``shift`` goes into one of their maps."""
        src, out = operand.meta["tensor_meta"], node.meta["tensor_meta"]
        if tuple(out.shape) != tuple(src.shape):
            raise self.fail(node, f"broadcasts a value of shape {tuple(src.shape[1:])} with a constant to shape "
                                  f"{tuple(out.shape[1:])}; only constants that broadcast to the value's own shape "
                                  "(e.g. (1, C, 1, 1) per channel) are converted")
        self.same_dtype(node, operand, cast=False)
        e = self.expr(node, operand)
        if scale is not None and not (isinstance(scale, (int, float)) and scale == 1):
            scale = self.per_sample(node, scale, len(out.shape), src.dtype)
            if isinstance(scale, torch.Tensor) and scale.numel() == 1:
                scale = float(scale)
            e = e.apply(Scale(scale) if isinstance(scale, float) else ElementwiseAffine(scale))
        if shift is not None:
            shift = torch.as_tensor(self.per_sample(node, shift, len(out.shape), src.dtype), dtype=src.dtype)
            terms, m = dict(e.terms), max(e.terms)
            terms[m] = _compose(ElementwiseAffine(None, shift), terms[m])
            e = _Expr(terms)
        return e

    def call_function(self, node: fx.Node, fn, args, kwargs):
        if fn in _ADD or fn in _SUB:
            a, b = args[0], args[1]
            sign = kwargs.get("alpha", 1) * (1 if fn in _ADD else -1)  # a + sign * b
            ca, cb = self.constant(a), self.constant(b)
            if cb is not None and isinstance(self.values.get(a), _Expr):
                return self.constant_affine(node, a, shift=cb * sign)
            if ca is not None and isinstance(self.values.get(b), _Expr):
                return self.constant_affine(node, b, scale=sign, shift=ca)
            if not (isinstance(self.values.get(a), _Expr) and isinstance(self.values.get(b), _Expr)):
                raise self.fail(node, "adds a value that is neither a network value nor a constant (a number or a "
                                      "tensor that does not depend on the input)")
            shapes = [tuple(getattr(n.meta.get("tensor_meta"), "shape", ()))[1:] for n in (a, b)]
            if shapes[0] != shapes[1]:
                raise self.fail(node, f"adds values of shapes {shapes[0]} and {shapes[1]} by broadcasting; only sums "
                                      "of values of one shape are affine maps of the lifted states here")
            right = self.expr(node, b) if sign == 1 else self.expr(node, b).apply(Scale(sign))
            return self.expr(node, a) + right
        if fn in _MUL or fn in _DIV:
            a, b = args[0], args[1]
            if kwargs.get("rounding_mode") is not None:
                raise self.fail(node, f"rounds (rounding_mode={kwargs['rounding_mode']!r}): it is not affine")
            ca, cb = self.constant(a), self.constant(b)
            if cb is not None and isinstance(self.values.get(a), _Expr):
                return self.constant_affine(node, a, scale=1.0 / cb if fn in _DIV else cb)
            if ca is not None and fn in _MUL and isinstance(self.values.get(b), _Expr):
                return self.constant_affine(node, b, scale=ca)
            if fn in _DIV and ca is not None:
                raise self.fail(node, "divides a constant by a network value: it is not affine; " + _REMEDY)
            raise self.fail(node, f"is not affine: it {'divides' if fn in _DIV else 'multiplies'} two values "
                                  "computed from the input (a gating x * f(x), a product of branches); only "
                                  "products with, and divisions by, constants (numbers, buffers, parameters, "
                                  "tensors built in forward) are; " + _REMEDY)
        if fn in _NEG:
            return self.affine(node, Scale(-1.0), args[0])
        if fn in _CAT:
            return self.cat(node, args, kwargs)
        if fn in _RESHAPES:
            return self.reshape(node, args[0])
        if fn is F.dropout:
            if _arg(args[1:], kwargs, 1, "training", True) and _arg(args[1:], kwargs, 0, "p", 0.5) > 0:
                raise self.fail(node, "is in training mode (random); pass training=False")
            return self.expr(node, args[0])
        module = _functional_module(fn, args[1:], kwargs)
        if module is None:
            raise self.fail(node, _not_converted(fn, args[1:], kwargs))
        if isinstance(module, LinearMap):
            return self.affine(node, module, args[0])
        return self.activation(node, module, args[0])

    def call_method(self, node: fx.Node, args, kwargs):
        name = node.target
        if name in _METHOD_FUNCTIONS:
            return self.call_function(node, _METHOD_FUNCTIONS[name], args, kwargs)
        if name in _METHOD_RESHAPES:
            return self.reshape(node, args[0])
        if name in ("contiguous", "clone"):
            return self.expr(node, args[0])
        if name in _CASTS:  # x.float(), x.to(dtype), x.type_as(y): no-ops unless they change the dtype
            self.same_dtype(node, args[0], cast=True)
            return self.expr(node, args[0])
        raise self.fail(node, _NOT_LIFTED)

    def evaluate(self, node: fx.Node):
        """The value of a node that does not depend on the input (all its operands are constants):
        ``self.mean.view(1, -1, 1, 1)``, ``mean[None, :, None, None]``, ``1 / std``, ..."""
        if node.op == "get_attr":
            value = self.gm
            for name in node.target.split("."):
                value = getattr(value, name)
            return value.detach().clone() if isinstance(value, torch.Tensor) else value  # may be changed in place
        args, kwargs = fx.node.map_arg((node.args, node.kwargs), lambda n: self.consts[n])
        with torch.no_grad():
            if node.op == "call_function":
                return node.target(*args, **kwargs)
            if node.op == "call_method":
                return getattr(args[0], node.target)(*args[1:], **kwargs)
            return self.model.get_submodule(node.target)(*args, **kwargs)

    def in_place(self, node: fx.Node) -> bool:
        """Whether ``node`` overwrites its first operand (``h.mul_(2)``, ``h += x``,
        ``nn.ReLU(inplace=True)``, ``F.relu(h, inplace=True)``)."""
        if node.op == "call_method":
            return node.target.endswith("_")
        if node.op == "call_module":
            return bool(getattr(self.model.get_submodule(node.target), "inplace", False))
        if node.target in _IN_PLACE_OPERATORS:
            return True
        try:
            bound = inspect.signature(node.target).bind(*node.args, **node.kwargs)
        except (TypeError, ValueError):  # builtins without a signature: not in place
            return False
        return bool(bound.arguments.get("inplace", False))

    # -- driver --------------------------------------------------------------------------------
    def run(self, graph: fx.Graph, input_map: LinearMap) -> None:
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        for extra in placeholders[1:]:
            if extra.users:
                raise ConversionError(f"the module's forward uses a second input {extra.name!r}; only one "
                                      "tensor input is supported")
        for node in graph.nodes:
            if node.op == "placeholder":
                if node is placeholders[0]:
                    self.values[node] = _Expr({0: input_map})
                continue
            if node.op == "output":
                out = node.args[0]
                if not isinstance(out, fx.Node) or not isinstance(self.values.get(out), _Expr):
                    raise ConversionError(f"the module returns {out!r}; only one tensor output is supported")
                e = self.values[out]
                last = len(self.layers)
                if not (last and list(e.terms) == [last] and isinstance(e.terms[last], IdentityMap)):
                    self.close(e, "identity")
                continue
            if node.op == "get_attr" or all(n in self.consts for n in node.all_input_nodes):
                self.consts[node] = self.evaluate(node)  # a constant: an operand of the nodes that use it
                self.values[node] = None
                continue
            if "tensor_meta" not in node.meta:  # sizes, shapes, dims: read by the reshapes through the meta
                self.values[node] = None
                continue
            args, kwargs = node.args, node.kwargs
            if node.op == "call_module":
                self.values[node] = self.call_module(node)
            elif node.op == "call_function":
                self.values[node] = self.call_function(node, node.target, args, kwargs)
            elif node.op == "call_method":
                self.values[node] = self.call_method(node, args, kwargs)
            else:
                self.values[node] = None
            if self.in_place(node) and isinstance(args[0], fx.Node):  # later uses of the operand see the result,
                aliases = self.aliases.setdefault(args[0], {args[0]})  # and so do those of the nodes it returned
                aliases.add(node)                                      # (x.sub_(m).div_(s) changes x twice)
                self.aliases[node] = aliases
                for alias in aliases:
                    self.values[alias] = self.values[node]


_AFFINE_MODULES = ("nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Upsample "
                   "(nearest, bilinear), nn.Flatten, nn.Unflatten, eval-mode BatchNorm and Dropout, torch.cat, sums, "
                   "products with and sums of constants: numbers, buffers, parameters)")
_REMEDY = ("the gradient baselines invert any module: invert_gradient(module, y, x_init=<a tensor of the input's "
           "shape>); or convert a part of the module that converts (as_lifted(part, in_shape)) and invert its features")
_NOT_LIFTED = ("is neither an affine map that liftinv converts nor a proximal activation, so it cannot be part of "
               f"a lifted network (affine: {_AFFINE_MODULES}; proximal: {PROXIMAL_MODULES}); " + _REMEDY)
_ADD = {operator.add, operator.iadd, torch.add}
_SUB = {operator.sub, operator.isub, torch.sub, torch.subtract}
_MUL = {operator.mul, operator.imul, torch.mul, torch.multiply}
_DIV = {operator.truediv, operator.itruediv, torch.div, torch.divide, torch.true_divide}
_NEG = {operator.neg, torch.neg, torch.negative}
_CAT = {torch.cat, torch.concat, torch.concatenate}
_IN_PLACE_OPERATORS = {operator.iadd, operator.isub, operator.imul, operator.itruediv}
_RESHAPES = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, torch.unflatten}
_METHOD_FUNCTIONS = {"add": torch.add, "add_": torch.add, "sub": torch.sub, "sub_": torch.sub, "mul": torch.mul,
                     "mul_": torch.mul, "div": torch.div, "div_": torch.div, "neg": torch.neg, "subtract": torch.sub,
                     "multiply": torch.mul, "divide": torch.div, "true_divide": torch.div,
                     "relu": F.relu, "relu_": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                     "clamp": torch.clamp, "clamp_": torch.clamp, "clip": torch.clamp, "clip_": torch.clamp,
                     "sigmoid_": torch.sigmoid, "tanh_": torch.tanh}
_CASTS = {"float", "double", "half", "bfloat16", "to", "type", "type_as"}
_METHOD_RESHAPES = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as"}


def _arg(args, kwargs, i, name, default):
    return args[i] if len(args) > i else kwargs.get(name, default)


def _not_converted(fn, args, kwargs) -> str:
    """Why ``fn(x, *args, **kwargs)`` has no module in :func:`_functional_module`."""
    if fn is F.interpolate:
        mode = _arg(args, kwargs, 2, "mode", "nearest")
        return (f"cannot be converted: mode={mode!r}" + (", antialias=True" if kwargs.get("antialias") else "")
                + f"; only {Upsample.MODES} without antialiasing are converted")
    if fn is torch.clamp:
        lo, hi = _arg(args, kwargs, 0, "min", None), _arg(args, kwargs, 1, "max", None)
        return (f"clips to [{lo}, {hi}]: a one-sided clip is proximal but converted only at 0 "
                "(clamp(x, min=0), a ReLU); a two-sided clamp(x, lo, hi) converts too")
    return _NOT_LIFTED


def _functional_module(fn, args, kwargs):
    """The torch module (or liftinv map) computing ``fn(x, *args, **kwargs)``, or None."""
    simple = {F.relu: nn.ReLU, torch.relu: nn.ReLU, F.relu6: nn.ReLU6, torch.sigmoid: nn.Sigmoid,
              F.sigmoid: nn.Sigmoid, torch.tanh: nn.Tanh, F.tanh: nn.Tanh, F.gelu: nn.GELU, F.silu: nn.SiLU,
              F.mish: nn.Mish, F.hardswish: nn.Hardswish, F.selu: nn.SELU, torch.selu: nn.SELU,
              F.softplus: nn.Softplus}
    if fn in simple:
        return simple[fn]()
    if fn in (F.softmax, torch.softmax):
        return nn.Softmax(dim=_arg(args, kwargs, 0, "dim", None))
    if fn is F.leaky_relu:
        return nn.LeakyReLU(_arg(args, kwargs, 0, "negative_slope", 0.01))
    if fn in (F.elu, F.celu):
        return (nn.ELU if fn is F.elu else nn.CELU)(_arg(args, kwargs, 0, "alpha", 1.0))
    if fn is F.hardtanh:
        return nn.Hardtanh(_arg(args, kwargs, 0, "min_val", -1.0), _arg(args, kwargs, 1, "max_val", 1.0))
    if fn is F.softshrink:
        return nn.Softshrink(_arg(args, kwargs, 0, "lambd", 0.5))
    if fn is torch.clamp:
        lo, hi = _arg(args, kwargs, 0, "min", None), _arg(args, kwargs, 1, "max", None)
        if lo == 0 and hi is None:
            return nn.ReLU()
        return nn.Hardtanh(lo, hi) if lo is not None and hi is not None else None
    if fn is F.avg_pool2d:
        names = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
        defaults = (None, None, 0, False, True, None)
        return AvgPool2d(*(_arg(args, kwargs, i, n, d) for i, (n, d) in enumerate(zip(names, defaults))))
    if fn is F.adaptive_avg_pool2d:
        return AdaptiveAvgPool2d(_arg(args, kwargs, 0, "output_size", None))
    if fn is F.interpolate:
        names = ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")
        opts = dict(zip(names, (_arg(args, kwargs, i, n, d) for i, (n, d) in
                                enumerate(zip(names, (None, None, "nearest", None, None))))))
        if opts["mode"] not in Upsample.MODES or kwargs.get("antialias"):
            return None
        return Upsample(**opts)
    return None


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

