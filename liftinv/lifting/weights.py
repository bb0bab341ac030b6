r"""Rules for the hidden layers' penalty weights :math:`\lambda_l`.

**Why the weights matter for deep networks.**  One backward auxiliary sweep from a forward
pass moves each state by a displacement :math:`\delta_m = x_m - x_m^f` that carries the loss
signal down the network (the forward-anchored weight gradient of layer :math:`m` is
:math:`\lambda_m\,\delta_m\,(x^f_{m-1})^\top` for a dense layer).  With the step
:math:`\mu_m = s/L_m`, :math:`L_m = \lambda_{m+1}\|W_{m+1}\|^2`, and the pull of the block's own
penalty :math:`t_m = c_m/(1+c_m)`, :math:`c_m = \mu_m\lambda_m`, a displacement below the first
kink of the proximal step is, to first order,

.. math::
    \delta_m \approx (1 - t_m)\,\frac{s}{\|W_{m+1}\|^2}\,D_m W_{m+1}^\top \delta_{m+1},

with :math:`D_m` the slope of the prox (the 0/1 mask of ReLU).  Back-propagation has
:math:`D_m W_{m+1}^\top` alone.  Since a random matrix's typical gain is about half its spectral
norm, equal weights (:math:`c_m \approx 1/\|W\|^2`, :math:`1 - t_m \approx 0.6`) shrink the
lifted signal about four times faster per layer than back-propagation shrinks its gradient:
through 20 layers it falls below float32's resolution of the states and the first layers get
no gradient at all (measured: docs/results.md, deep networks).

:func:`geometric_weights` makes :math:`c_m` small by letting the weights decrease towards the
input, :math:`\lambda_m = \rho\,\lambda_{m+1}`, so :math:`1 - t_m \to 1` and, with a step scale
:math:`s` near 2 (still a descent step of the block), the lifted signal decays no faster than
back-propagation's gradient.  The tiny weights of the first layers are harmless: Adam's weight
step sees each block's own term :math:`P_l` (:class:`~liftinv.solvers.BCD` divides the block's
gradient by :math:`\lambda_l`), and the Lipschitz step is invariant to :math:`\lambda_l`.
Our rule, measured here, not from the papers.
"""

from __future__ import annotations

from ..utils.checks import check_number


def geometric_weights(depth: int, top: float = 10.0, ratio: float = 0.2) -> list[float]:
    r"""Penalty weights :math:`\lambda_l = \text{top}\cdot\text{ratio}^{L-1-l}` of the hidden
    layers :math:`l = 1..L-1` of a network of ``depth`` :math:`L` layers (``top`` for the last
    hidden layer, ``ratio`` in (0, 1] per layer towards the input; 1 gives equal weights).

    >>> [round(w, 6) for w in geometric_weights(4, top=10.0, ratio=0.5)]
    [2.5, 5.0, 10.0]
    """
    check_number(depth, "depth", minimum=2, integer=True)
    check_number(top, "top", strict=True)
    check_number(ratio, "ratio", strict=True)
    if ratio > 1:
        raise ValueError(f"ratio: expected a number in (0, 1], got {ratio!r}")
    return [float(top) * float(ratio) ** (depth - 1 - li) for li in range(1, depth)]
