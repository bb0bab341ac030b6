"""Residual network in the lifted residual form of the unified framework."""

from __future__ import annotations

from torch import nn

from ..utils.checks import check_number
from .linear_maps import Dense, IdentityMap
from .network import Layer, LiftedNetwork


class ResNet(LiftedNetwork):
    r"""Residual blocks :math:`u_j = u_{j-1} + V_j\,\mathrm{prox}_\Psi(W_j u_{j-1} + b_j)`.

    Lifted with two auxiliaries per block, :math:`z_j = \sigma(W_j u_{j-1} + b_j)` and
    :math:`u_j = V_j z_j + u_{j-1}` (an identity-activation layer with a skip from
    :math:`u_{j-1}`, whose Bregman penalty is :math:`\tfrac12\|u_j - V_j z_j - u_{j-1}\|^2`).
    The input is embedded by :math:`u_0 = W_{in}x + b_{in}` and read out by
    :math:`\sigma_L(W_{out}u_J + b_{out})`.  The states :math:`u_{j-1}, z_j, u_j` share a
    penalty, so the auxiliaries split into three colour groups, not two.
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        hidden: int,
        n_blocks: int,
        out_features: int,
        activation: str | nn.Module = "relu",
        last_activation: str | nn.Module = "identity",
    ) -> None:
        in_features, width, hidden, n_blocks, out_features = (
            check_number(v, f"ResNet {name}", minimum=1, integer=True) for v, name in
            ((in_features, "in_features"), (width, "width"), (hidden, "hidden"), (n_blocks, "n_blocks"),
             (out_features, "out_features")))
        layers = [Layer(Dense(in_features, width), "identity")]
        for j in range(n_blocks):
            u_prev = 2 * j + 1  # state index of u_{j} in the lifted chain (x_1 = u_0)
            layers.append(Layer(Dense(width, hidden), activation))
            layers.append(Layer(Dense(hidden, width, bias=False), "identity", skip=(u_prev, IdentityMap())))
        layers.append(Layer(Dense(width, out_features), last_activation))
        super().__init__(layers, in_shape=(in_features,))
        self.n_blocks = n_blocks
