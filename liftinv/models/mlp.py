"""Multilayer perceptron as a lifted network."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..utils.checks import check_number
from .linear_maps import Dense
from .network import Layer, LiftedNetwork


class MLP(LiftedNetwork):
    r"""Dense layers :math:`x_l = \sigma(W_l x_{l-1} + b_l)`, widths ``sizes``.

    ``sizes = (n_in, h_1, ..., n_out)``; hidden layers use ``activation``, the last
    ``last_activation`` (``'identity'`` for regression, ``'softmax'`` for classes).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | nn.Module = "relu",
        last_activation: str | nn.Module = "identity",
        bias: bool = True,
    ) -> None:
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):  # (MLP(784) was "not iterable")
            raise ValueError(f"MLP sizes: expected the layer widths (n_in, h_1, ..., n_out), e.g. [784, 128, 10], "
                             f"got {sizes!r}")
        sizes = [check_number(s, "MLP sizes", minimum=1, integer=True) for s in sizes]  # (2.7 was truncated)
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least (n_in, n_out), got sizes={sizes}")
        layers = [
            Layer(Dense(a, b, bias=bias), activation if i < len(sizes) - 2 else last_activation)
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]
        super().__init__(layers, in_shape=(sizes[0],))
        self.sizes = sizes
