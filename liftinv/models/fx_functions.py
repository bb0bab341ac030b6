"""The torch operators, functions and ``Tensor`` methods that :func:`~liftinv.models.from_module`
recognises, in tables by what they compute (sums, products, reshapes, casts, in-place operators,
the methods that are functions), and :func:`_functional_module`: the torch module (or liftinv
map) that a functional call such as ``F.relu`` or ``F.avg_pool2d`` computes."""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn

from .linear_maps import AdaptiveAvgPool2d, AvgPool2d, Upsample

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
