r"""Elementwise functions that torch computes slowly where the activations need them fast.

:func:`elu_no_graph`: the ELU's value without ``torch.expm1`` (``F.elu`` calls it), on the CPU in
float32.

:func:`expm1_nonpositive`: :math:`e^z - 1` for :math:`z \le 0` (the ELU's prox, conjugate and
increment).  In float32 on the CPU ``torch.expm1`` costs about ten ``torch.exp`` (torch
2.14, AVX-512 build, one thread, 98,304 values: 0.89 ms against 0.09 ms; in float64 0.29 ms), and
in the lifted inversion of a conv-ELU encoder it took 41% of the run.  Here it is

.. math:: e^z - 1 = \frac{2t}{1 - t},\qquad t = \tanh(z/2),

exact in exact arithmetic; for :math:`z \le 0`, :math:`t \in (-1, 0]` and the denominator lies in
:math:`[1, 2)`, so nothing cancels and the result keeps :math:`\tanh`'s relative accuracy: at most
1.4 units of float32 rounding over :math:`z \in [-100, -10^{-12}]` (``torch.expm1``: 0.5; checked in
tests/test_activations.py), in 0.33 ms.  Other dtypes and devices call ``torch.expm1``.
"""

from __future__ import annotations

import torch

__all__ = ["elu_no_graph", "expm1_nonpositive"]

_ONE = torch.scalar_tensor(1.0)  # a 0-dim operand: torch copies a plain number operand (about a pass)


def elu_no_graph(v: torch.Tensor, alpha: float, beta: float) -> torch.Tensor | None:
    r""":math:`\sigma(v) = v_+ + \alpha(e^{v_-/\beta} - 1)` in five cheap passes, for a float32 CPU tensor
    without a graph to build; ``None`` otherwise (the caller then takes torch's fused ``F.elu``,
    whose backward a graph needs and which is one kernel on a GPU).

    ``F.elu`` evaluates ``expm1`` (module docstring): 20 us for 64 x 32 values, 2.4 ms for 262,144
    (one thread), here 8 us and 0.33 ms.  :math:`e^{v_-/\beta} - 1` is exact where the exponential is
    in :math:`[1/2, 1]` (Sterbenz), so the value is within :math:`\alpha` times float32's rounding
    of the exact one (absolute, not relative, near :math:`v = 0^-`: 0.38 eps measured over
    :math:`[-20, 5]`), and exactly :math:`v` for :math:`v > 0`."""
    if v.dtype != torch.float32 or v.device.type != "cpu" or (v.requires_grad and torch.is_grad_enabled()):
        return None
    e = v.clamp_max(0.0)
    if beta != 1.0:
        e.div_(beta)
    return v.clamp_min(0.0).add_(e.exp_().sub_(_ONE), alpha=alpha)


def expm1_nonpositive(z: torch.Tensor) -> torch.Tensor:
    r""":math:`e^z - 1` for a tensor of values :math:`z \le 0` (module docstring; positive values
    lose accuracy as :math:`t \to 1`: the callers clamp first).  ``-inf`` gives -1, ``-0.0`` gives
    ``-0.0``, NaN stays NaN."""
    if z.dtype != torch.float32 or z.device.type != "cpu":
        return torch.expm1(z)
    t = torch.tanh(z * 0.5)
    return t.mul(2.0).div_(t.neg().add_(1.0))
