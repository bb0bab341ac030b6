"""Explicit parameter gradients: layers whose maps give them directly build no autograd graph, and
every lifted weight gradient is the same as through autograd."""

from __future__ import annotations

import copy

import pytest
import torch

from liftinv.lifting import LiftedProblem
from liftinv.models import CNN, DFBPNN, MLP, ResNet
from liftinv.models.linear_maps import AvgPool2d, Dense, IdentityMap, Reshape
from liftinv.solvers import BCD, Adam


def test_dense_param_grads_are_the_vector_jacobian_product():
    torch.manual_seed(0)
    amap = Dense(12, 5).double()
    x, r = torch.randn(7, 3, 4, dtype=torch.float64), torch.randn(7, 5, dtype=torch.float64)
    expected = torch.autograd.grad((amap(x) * r).sum(), [amap.weight, amap.bias])
    got = amap.param_grads(r, x)
    assert [p for p, _ in got] == [amap.weight, amap.bias]
    for (_, g), e in zip(got, expected):
        torch.testing.assert_close(g, e)
    no_bias = Dense(12, 5, bias=False)
    assert [p for p, _ in no_bias.param_grads(r.float(), x.float())] == [no_bias.weight]


def test_parameter_free_maps_have_no_parameter_gradients():
    r = torch.randn(2, 3, 4, 4)
    for amap in (IdentityMap(), AvgPool2d(2), Reshape((48,))):
        assert amap.explicit_grads and amap.param_grads(r, r) == []


def test_explicit_layers_are_the_plain_layers_of_explicit_maps_with_parameters():
    assert MLP([4, 8, 8, 2], "relu").explicit_layers == frozenset({1, 2, 3})
    assert ResNet(4, 6, 5, 2, 2).explicit_layers == frozenset(range(1, 7))
    assert CNN((1, 8, 8), (3, 4), out_features=2).explicit_layers == frozenset({3})  # the dense head
    assert DFBPNN((1, 8, 8), depth=2, features=4).explicit_layers == frozenset()


def _pair(net, **options):
    """Two BCD solvers on copies of ``net``: the second takes every gradient through autograd."""
    nets = [net, copy.deepcopy(net)]
    nets[1].explicit_layers = frozenset()
    return [BCD(LiftedProblem(n, "bregman", lam=3.0), weights=Adam(lr=1e-2), order="backward", **options)
            for n in nets], nets


NETS = {
    "mlp-tanh": lambda: MLP([5, 9, 9, 9, 3], "tanh"),
    "mlp-relu": lambda: MLP([5, 9, 9, 3], "relu"),
    "resnet": lambda: ResNet(5, 6, 7, 2, 3),
}


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("gradient, aux_step, fused", [
    ("matched", "mirror", False), ("matched", "prox", False), ("matched", "mirror", True),
    ("matched", "prox", True), ("forward", "prox", False), ("aux", "prox", False)])
def test_training_steps_are_those_of_autograd(name, gradient, aux_step, fused):
    torch.manual_seed(3)
    net = NETS[name]().double()
    assert net.explicit_layers
    solvers, nets = _pair(net, gradient=gradient, aux_step=aux_step)
    for solver in solvers:
        solver._fuse_matched = fused  # the fused sweep (a backward pass per layer) on plain layers too
    gen = torch.Generator().manual_seed(4)
    for _ in range(4):
        x = torch.randn(11, 5, generator=gen, dtype=torch.float64)
        y = torch.randn(11, 3, generator=gen, dtype=torch.float64)
        for solver in solvers:
            solver.step_batch(x, y)
    for a, b in zip(*(n.parameters() for n in nets)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert any(not torch.equal(a, b) for a, b in zip(net.parameters(), NETS[name]().double().parameters()))


def test_forward_graphs_build_no_graph_for_explicit_layers():
    torch.manual_seed(5)
    net = CNN((1, 8, 8), (3, 4), out_features=2)
    states, _, graphs = LiftedProblem(net).forward_graphs(torch.rand(3, 1, 8, 8))
    assert [v.requires_grad for v in graphs] == [True, True, False]
    assert graphs.explicit == frozenset({3})
    assert all(a is b for a, b in zip(graphs.states, states))


@pytest.mark.parametrize("act, penalty, mirror", [("sigmoid", "bregman", True), ("hardtanh", "bregman", False),
                                                  ("relu", "fenchel", False), ("sigmoid", "bregman", False)])
def test_sweep_without_states_gives_the_same_residuals_and_leaves_the_forward_pass(act, penalty, mirror):
    torch.manual_seed(6)
    net = MLP([4, 8, 8, 2], act).float()
    x, y = torch.randn(9, 4), torch.randn(9, 2)
    problem = LiftedProblem(net, penalty, lam=2.0)
    norms = problem.map_norms(exact=True)
    runs = []
    for keep in (True, False):
        states, cache, _ = problem.forward_graphs(x)
        forward = list(states)
        eps = problem.matched_sweep(states, cache, y, norms, 0.5, mirror=mirror, keep_states=keep)
        runs.append((eps, states, forward))
    for li in runs[0][0]:  # the in-place residuals are the same to the bit, in float32
        torch.testing.assert_close(runs[0][0][li], runs[1][0][li], rtol=0, atol=0)
    assert all(a is b for a, b in zip(runs[1][1], runs[1][2]))  # left at the forward pass
    assert any(not torch.equal(a, b) for a, b in zip(runs[0][1], runs[0][2]))  # moved
