"""The refusal messages of :func:`~liftinv.models.from_module` and the remedy they give: what
converts (affine maps and proximal activations), the gradient baselines for what does not, and
why a functional call has no converted module."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..activations.registry import PROXIMAL_MODULES
from .fx_functions import _arg
from .linear_maps import Upsample

_AFFINE_MODULES = ("nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Upsample "
                   "(nearest, bilinear), nn.Flatten, nn.Unflatten, eval-mode BatchNorm and Dropout, torch.cat, sums, "
                   "products with and sums of constants: numbers, buffers, parameters)")
_REMEDY = ("the gradient baselines invert any module: invert_gradient(module, y, x_init=<a tensor of the input's "
           "shape>); or convert a part of the module that converts (as_lifted(part, in_shape)) and invert its features")
_NOT_LIFTED = ("is neither an affine map that liftinv converts nor a proximal activation, so it cannot be part of "
               f"a lifted network (affine: {_AFFINE_MODULES}; proximal: {PROXIMAL_MODULES}); " + _REMEDY)


def _not_converted(fn, args, kwargs) -> str:
    """Why ``fn(x, *args, **kwargs)`` has no module in :func:`~liftinv.models.fx_functions._functional_module`."""
    if fn is F.interpolate:
        mode = _arg(args, kwargs, 2, "mode", "nearest")
        return (f"cannot be converted: mode={mode!r}" + (", antialias=True" if kwargs.get("antialias") else "")
                + f"; only {Upsample.MODES} without antialiasing are converted")
    if fn is torch.clamp:
        lo, hi = _arg(args, kwargs, 0, "min", None), _arg(args, kwargs, 1, "max", None)
        return (f"clips to [{lo}, {hi}]: a one-sided clip is proximal but converted only at 0 "
                "(clamp(x, min=0), a ReLU); a two-sided clamp(x, lo, hi) converts too")
    return _NOT_LIFTED
