"""Convolutional network (conv layers, then a dense head) as a lifted network."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..utils.checks import check_number
from .linear_maps import Conv2d, Dense
from .network import Layer, LiftedNetwork


class CNN(LiftedNetwork):
    r"""Convolutions :math:`x_l = \sigma(w_l * x_{l-1} + b_l)` and a dense output layer.

    ``in_shape = (C, H, W)``; one conv layer per entry of ``channels`` (kernel
    ``kernel_size``, stride ``stride``), then :math:`\sigma_L(W x + b)` with
    ``out_features`` outputs (``last_activation='softmax'`` for a classifier).
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        channels: Sequence[int] = (8, 16),
        out_features: int = 10,
        kernel_size: int = 3,
        stride: int = 2,
        activation: str | nn.Module = "relu",
        last_activation: str | nn.Module = "softmax",
    ) -> None:
        for value, name, example in ((in_shape, "in_shape", "(1, 28, 28)"), (channels, "channels", "(8, 16)")):
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):  # (was "not iterable")
                raise ValueError(f"CNN {name}: expected a sequence of integers, e.g. {example}, got {value!r}")
        in_shape = tuple(check_number(s, "CNN in_shape", minimum=1, integer=True) for s in in_shape)
        if len(in_shape) != 3:
            raise ValueError(f"CNN in_shape must be (C, H, W), got {in_shape}")
        channels = [check_number(c, "CNN channels", minimum=1, integer=True) for c in channels]
        for value, name in ((out_features, "out_features"), (kernel_size, "kernel_size"), (stride, "stride")):
            check_number(value, f"CNN {name}", minimum=1, integer=True)
        layers, shape = [], in_shape
        for ch in channels:
            conv = Conv2d(shape[0], ch, kernel_size, stride=stride)
            shape = conv.out_shape(shape)
            layers.append(Layer(conv, activation))
        n_flat = shape[0] * shape[1] * shape[2]
        layers.append(Layer(Dense(n_flat, out_features), last_activation))
        super().__init__(layers, in_shape=in_shape)
