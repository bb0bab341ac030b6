"""The state of a torch.fx conversion and its rules that build layers (:class:`_LayerBuilder`):
naming a node in an error, closing an expression into a layer, and the nodes that compose an
affine map with their argument's expression (affine modules, BatchNorm, reshapes,
concatenations) or close a layer with a proximal activation."""

from __future__ import annotations

import copy
import math

import torch.fx as fx
from torch import nn

from ..activations import NotProximalError, get_activation
from .composite_maps import ChainMap
from .convert import ConversionError, NotProximalConversionError, fold_batchnorm
from .fx_expr import _Expr, _factors, _has_parameters
from .fx_functions import _arg
from .fx_messages import _NOT_LIFTED
from .linear_maps import ChannelAffine, Conv2d, ConvTranspose2d, Dense, IdentityMap, LinearMap, Reshape, ZeroMap
from .network import Layer

_PARAMETRISED = (Dense, Conv2d, ConvTranspose2d)


class _LayerBuilder:
    """What a conversion has built (layers, state shapes, every node's value, the constants, the
    aliases of in-place operations) and the rules that turn expressions into layers."""

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
