"""Errors raised by the activation package."""

from __future__ import annotations

__all__ = ["NotProximalError", "PROXIMAL_RULE"]

#: The characterisation quoted in every :class:`NotProximalError` message.
PROXIMAL_RULE = (
    "a scalar activation is the proximal map of a convex function if and only if it is "
    "non-decreasing (monotone) and 1-Lipschitz"
)


class NotProximalError(ValueError):
    """An activation that is not the proximal map of a convex function.

    Lifted Bregman training needs :math:`\\sigma = \\mathrm{prox}_\\Psi` with :math:`\\Psi`
    convex; by the characterisation of proximal maps, a scalar :math:`\\sigma` qualifies iff it
    is non-decreasing and 1-Lipschitz.  GELU, SiLU/swish, Mish and Hardswish are not monotone;
    SELU and leaky ReLU with slope > 1 are not 1-Lipschitz.
    """
