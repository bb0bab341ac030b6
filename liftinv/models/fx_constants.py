"""The torch.fx conversion's rules for arithmetic and constants (:class:`_ConstantRules`): sums
and differences of network values, and products with, divisions by and sums with constants
(numbers, or tensors that do not depend on the input, evaluated where computed from constants
alone), as diagonal affine maps composed with the operand's expression; casts checked to keep the
dtype."""

from __future__ import annotations

import torch
import torch.fx as fx

from .fx_expr import _compose, _Expr
from .fx_functions import _ADD, _DIV, _MUL
from .fx_layers import _LayerBuilder
from .fx_messages import _REMEDY
from .linear_maps import ElementwiseAffine, Scale


class _ConstantRules(_LayerBuilder):
    """The rules of the nodes that compute with constants and of sums of network values."""

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

    def add_or_sub(self, node: fx.Node, fn, args, kwargs) -> _Expr:
        """A sum or difference (``fn`` in ``_ADD`` or ``_SUB``): of two network values, or with a constant."""
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

    def mul_or_div(self, node: fx.Node, fn, args, kwargs) -> _Expr:
        """A product or quotient (``fn`` in ``_MUL`` or ``_DIV``): only with, or by, a constant."""
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
