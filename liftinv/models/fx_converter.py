"""The walk of a traced graph that converts it into lifted layers (:class:`_Converter`): the
dispatch of every node by kind (a module, a function, a ``Tensor`` method) to its rule, the
aliasing of in-place operations, and the driver from the input placeholder to the output."""

from __future__ import annotations

import copy
import inspect

import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .convert import ConversionError, torch_affine_map
from .fx_constants import _ConstantRules
from .fx_expr import _Expr
from .fx_functions import (
    _ADD,
    _CASTS,
    _CAT,
    _DIV,
    _IN_PLACE_OPERATORS,
    _METHOD_FUNCTIONS,
    _METHOD_RESHAPES,
    _MUL,
    _NEG,
    _RESHAPES,
    _SUB,
    _arg,
    _functional_module,
)
from .fx_messages import _NOT_LIFTED, _not_converted
from .linear_maps import IdentityMap, LinearMap, Scale


class _Converter(_ConstantRules):
    """One conversion: :meth:`run` walks the graph and leaves the lifted layers in ``layers``."""

    # -- node dispatch -------------------------------------------------------------------------
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

    def call_function(self, node: fx.Node, fn, args, kwargs):
        if fn in _ADD or fn in _SUB:
            return self.add_or_sub(node, fn, args, kwargs)
        if fn in _MUL or fn in _DIV:
            return self.mul_or_div(node, fn, args, kwargs)
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
