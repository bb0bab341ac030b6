"""The data term of lifted inversion: the papers' Bregman misfit of the output's pre-activation
(the default) or the output activation lifted, with the Gaussian misfit of ``y`` (``data_term='lifted'``)."""

from __future__ import annotations

import pytest
import torch
from test_inversion import SOLVERS, _injective_mlp, _relu_encoder
from torch import nn

from liftinv.inversion import LiftedInversion, Tikhonov, from_sequential, invert_lifted
from liftinv.metrics import psnr


def _injective_mlp_with_proximal_output():
    return from_sequential(nn.Sequential(*_injective_mlp(), nn.LeakyReLU(0.2)), (1, 8, 8))


@pytest.mark.parametrize("solver", SOLVERS)
def test_lifted_data_term_inverts_an_injective_network_with_a_proximal_output(solver):
    """Noiseless outputs are inverted, more slowly than with the Bregman data term, whose exact fit of
    the output's pre-activation the lifted output gives up (1000 iterations here; 300 reach 40 dB in
    the Bregman test above)."""
    net = _injective_mlp_with_proximal_output()
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        y = net(x)
    res = invert_lifted(net, y, regulariser="none", alpha=0.0, iters=1000, x_true=x, data_term="lifted",
                        **SOLVERS[solver])
    assert len(res.states) == net.depth + 1  # the output activation has a state of its own
    assert float(psnr(res.x, x).mean()) >= 35.0
    assert res.settings["data_term"] == "lifted"


def test_lifted_data_term_starts_at_the_nested_objective_and_keeps_the_network():
    """At the forward pass of the start the hidden penalties vanish, so the lifted objective is the
    Gaussian misfit of the outputs plus the prior (the Bregman data term is not); the network with
    its output lifted computes the same outputs with the same (shared) weights."""
    from liftinv.inversion.lifted import lifted_output

    net = _injective_mlp_with_proximal_output()
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        y = net(x) + 0.1 * torch.randn(3, 128)
        lifted = lifted_output(net)
        assert torch.equal(lifted(x), net(x))
    assert all(a is b for a, b in zip(lifted.parameters(), net.parameters()))
    start = torch.full_like(x, 0.5)
    with torch.no_grad():  # batch means, as the history records them
        nested = float(0.5 * (net(start) - y).pow(2).flatten(1).sum(1).mean() + 0.01 * Tikhonov().value(start).mean())
    for data_term, equal in (("lifted", True), ("bregman", False)):
        first = LiftedInversion(net, Tikhonov(), alpha=0.01, data_term=data_term).run(y, 1).history[0]["objective"]
        assert (abs(first - nested) < 1e-4 * nested) == equal, (data_term, first, nested)


def test_lifted_data_term_changes_nothing_for_an_identity_output():
    net = from_sequential(_injective_mlp(), (1, 8, 8)).double()
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        y = net(x) + 0.01 * torch.randn(2, 128, dtype=torch.float64)
    a, b = (invert_lifted(net, y, alpha=0.0, regulariser="none", iters=20, data_term=d) for d in ("bregman", "lifted"))
    assert torch.equal(a.x, b.x) and len(a.states) == len(b.states)


def test_lifted_data_term_is_named_and_refuses_a_network_that_is_not_its_layers():
    from liftinv.models.network import LiftedNetwork

    class Doubled(LiftedNetwork):  # outputs that are not its layers' outputs
        def forward(self, x):
            return 2 * super().forward(x)

    net = _relu_encoder()
    with pytest.raises(ValueError, match="data_term must be one of"):
        LiftedInversion(net, data_term="gaussian")
    with pytest.raises(ValueError, match="data_term='lifted' needs a network that is its layers"):
        LiftedInversion(Doubled(list(net.layers), net.in_shape), data_term="lifted")


def test_lifted_data_term_takes_the_output_states_weight_from_lam():
    net = _injective_mlp_with_proximal_output()  # 2 hidden layers, the output lifted: 3 weights
    assert LiftedInversion(net, data_term="lifted", lam=[1.0, 2.0]).problem.lam == [1.0, 2.0, 2.0]
    assert LiftedInversion(net, data_term="lifted", lam=[1.0, 2.0, 5.0]).problem.lam == [1.0, 2.0, 5.0]
    assert LiftedInversion(net, lam=[1.0, 2.0]).problem.lam == [1.0, 2.0]
