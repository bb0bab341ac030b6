"""The lifted problem: objective = loss at a forward pass, descent of plain BCD, structure, errors."""

import pytest
import torch
import torch.nn.functional as F

from liftinv.activations import NotProximalError
from liftinv.lifting import LiftedProblem, get_penalty
from liftinv.models import CNN, MLP, ResNet
from liftinv.solvers import BCD, KeptAux, ProxGrad


def _nets():
    torch.manual_seed(0)
    return {
        "mlp-relu": (MLP([6, 8, 8, 3], "relu"), (6,), (3,)),
        "mlp-mixed-act": (MLP([6, 8, 8, 8, 3], "tanh"), (6,), (3,)),
        "mlp-sigmoid-softmax": (MLP([6, 8, 4], "sigmoid", "softmax"), (6,), (4,)),
        "cnn": (CNN((1, 8, 8), channels=(3, 4), out_features=5), (1, 8, 8), (5,)),
        "resnet": (ResNet(6, width=5, hidden=7, n_blocks=2, out_features=3), (6,), (3,)),
    }


def _target(out_shape, net, n=10):
    if isinstance(net.activation(net.depth), torch.nn.Module) and "Softmax" in type(net.activation(net.depth)).__name__:
        return F.one_hot(torch.randint(0, out_shape[0], (n,)), out_shape[0]).double()
    return torch.randn((n,) + out_shape, dtype=torch.float64)


@pytest.mark.parametrize("name", list(_nets()))
@pytest.mark.parametrize("penalty", ["bregman", "mac", "fenchel"])
def test_lifted_objective_equals_loss_after_forward_pass(name, penalty):
    net, in_shape, out_shape = _nets()[name]
    net = net.double()
    if penalty == "fenchel" and name not in ("mlp-relu", "cnn"):
        with pytest.raises(ValueError, match="ReLU"):
            LiftedProblem(net, penalty)
        return
    problem = LiftedProblem(net, penalty, lam=0.7)
    x0 = torch.randn((10,) + in_shape, dtype=torch.float64)
    y = _target(out_shape, net)
    states, cache = problem.init_aux(x0)
    stats = problem.evaluate(states, y, cache)
    assert stats["violation"] == pytest.approx(0.0, abs=1e-20)
    assert stats["lifted"] == pytest.approx(float(problem.loss(x0, y).detach()), rel=1e-12, abs=1e-12)


def test_lifted_objective_is_above_loss_floor_and_zero_only_on_constraint():
    net = MLP([4, 6, 3], "relu").double()
    problem = LiftedProblem(net)
    x0, y = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    states, _ = problem.init_aux(x0)
    base = problem.evaluate(states, y)["lifted"] - float(problem.loss(x0, y).detach())
    states[1] = states[1] + 0.3 * torch.rand_like(states[1])  # stays feasible (>= 0)
    stats = problem.evaluate(states, y)
    hidden = stats["lifted"] - problem.loss_penalty.value(
        net.activation(2), y, net.preactivation(2, states)
    ).mean().detach().item()
    assert base == pytest.approx(0.0, abs=1e-12)
    assert hidden > 0 and stats["violation"] > 0


def test_colour_groups():
    assert MLP([3, 4, 4, 4, 4, 2]).aux_groups == [[1, 3], [2, 4]]
    groups = ResNet(3, 4, 5, n_blocks=2, out_features=2).aux_groups
    assert len(groups) == 3 and sorted(sum(groups, [])) == [1, 2, 3, 4, 5]
    # u_{j-1}, z_j, u_j never share a group
    for a, b, c in [(1, 2, 3), (3, 4, 5)]:
        for g in groups:
            assert len({a, b, c} & set(g)) <= 1


def _monotone_run(net, penalty, x0, y, steps=25, **kw):
    problem = LiftedProblem(net, penalty)
    solver = BCD(problem, aux=KeptAux(), exact_norms=True, **kw)
    solver.prepare(x0.shape[0])
    idx = torch.arange(x0.shape[0])
    values = []
    for _ in range(steps):
        states = [x0] + (solver.memory.load(idx) if solver.memory.has(idx) else problem.init_aux(x0)[0][1:])
        values.append(problem.evaluate(states, y)["lifted"])
        solver.step_batch(x0, y, idx)
    states = [x0] + solver.memory.load(idx)
    values.append(problem.evaluate(states, y)["lifted"])
    return values


@pytest.mark.parametrize(
    "name,act,last",
    [("relu", "relu", "identity"), ("clip", "clip", "identity"), ("softthr", "soft_threshold", "identity"),
     ("tanh", "tanh", "identity"), ("sigmoid-softmax", "sigmoid", "softmax"), ("leaky", "leaky_relu", "identity")],
)
def test_plain_bcd_never_increases_the_lifted_objective(name, act, last):
    torch.manual_seed(1)
    kwargs = {"threshold": 0.1} if act == "soft_threshold" else {}
    from liftinv.activations import get_activation

    net = MLP([5, 16, 16, 16, 4], get_activation(act, **kwargs), last).double()
    x0 = torch.randn(32, 5, dtype=torch.float64)
    y = _target((4,), net, 32)
    values = _monotone_run(net, "bregman", x0, y)
    diffs = [b - a for a, b in zip(values[:-1], values[1:])]
    assert max(diffs) <= 1e-10 * max(1.0, abs(values[0])), diffs
    assert values[-1] < values[0]


def test_plain_bcd_descent_on_cnn_and_resnet():
    torch.manual_seed(2)
    for net, x0, y in [
        (CNN((1, 8, 8), (3, 4), out_features=3, last_activation="identity").double(),
         torch.randn(16, 1, 8, 8, dtype=torch.float64), torch.randn(16, 3, dtype=torch.float64)),
        (ResNet(5, 6, 8, 2, 3).double(), torch.randn(16, 5, dtype=torch.float64),
         torch.randn(16, 3, dtype=torch.float64)),
    ]:
        values = _monotone_run(net, "bregman", x0, y, steps=15)
        assert all(b <= a + 1e-10 * abs(values[0]) for a, b in zip(values[:-1], values[1:]))
        assert values[-1] < values[0]


def test_step_larger_than_two_over_lipschitz_is_refused():
    with pytest.raises(ValueError, match="step_scale"):
        BCD(LiftedProblem(MLP([2, 3, 1])), weights=ProxGrad(step_scale=2.5))


def test_bad_input_gives_clear_errors():
    net = MLP([4, 5, 2])
    problem = LiftedProblem(net)
    solver = BCD(problem)
    with pytest.raises(ValueError, match=r"expected \(batch, 4\)"):
        solver.step_batch(torch.randn(3, 5), torch.randn(3, 2))
    with pytest.raises(ValueError, match="NaN or Inf"):
        solver.step_batch(torch.full((3, 4), float("nan")), torch.randn(3, 2))
    with pytest.raises(ValueError, match="NaN or Inf"):
        solver.step_batch(torch.randn(3, 4), torch.tensor([[float("inf"), 0.0]] * 3))
    with pytest.raises(ValueError, match="samples"):
        solver.step_batch(torch.randn(3, 4), torch.randn(2, 2))
    with pytest.raises(NotProximalError, match="monotone"):
        MLP([4, 5, 2], activation="gelu")
    with pytest.raises(NotProximalError):
        MLP([4, 5, 2], activation=torch.nn.SiLU())
    with pytest.raises(ValueError, match="Unknown penalty"):
        get_penalty("l2")
    with pytest.raises(ValueError, match="lam"):
        LiftedProblem(MLP([4, 5, 5, 2]), lam=[1.0])
    for bad in ("25", "0.5", [1.0, "2"]):  # a string was read digit by digit ("25" -> [2.0, 5.0])
        with pytest.raises(ValueError, match="lam must be a number"):
            LiftedProblem(MLP([4, 5, 5, 2]), lam=bad)
    import numpy as np

    for scalar in (np.float32(0.5), torch.tensor(0.5)):  # scalars of numpy and torch are numbers
        assert LiftedProblem(MLP([4, 5, 5, 2]), lam=scalar).lam == [0.5, 0.5]
    assert LiftedProblem(MLP([4, 5, 5, 2]), lam=torch.tensor([1.0, 2.0])).lam == [1.0, 2.0]


def test_two_skips_from_one_state_are_refused():
    """The maps are keyed by (reader, state): two skips of one layer from one state gave the second
    map's adjoint twice (weight gradients 0.37 off backprop); they must be summed into one skip."""
    from liftinv.models.linear_maps import Dense
    from liftinv.models.network import Layer, LiftedNetwork

    layers = [Layer(Dense(4, 5), "relu"), Layer(Dense(5, 5), "relu"),
              Layer(Dense(5, 3), "identity", skip=[(1, Dense(5, 3, bias=False)), (1, Dense(5, 3, bias=False))])]
    with pytest.raises(ValueError, match="several skips read state 1; sum their maps"):
        LiftedNetwork(layers, (4,))


@pytest.mark.cuda
def test_tensors_on_different_devices_are_refused():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    net = MLP([4, 5, 2]).cuda()
    with pytest.raises(ValueError, match="is on cpu but the network is on cuda"):
        BCD(LiftedProblem(net)).step_batch(torch.randn(3, 4), torch.randn(3, 2))


def test_device_mismatch_message_without_cuda():
    """The device check itself, exercised with the meta device (no GPU needed)."""
    from liftinv.utils.checks import check_tensor

    ref = torch.empty(1, device="meta")
    with pytest.raises(ValueError, match="is on cpu but the network is on meta"):
        check_tensor(torch.zeros(2, 3), "input x0", like=ref, finite=False)


def test_backward_order_is_also_a_descent_method_and_validated():
    torch.manual_seed(3)
    net = MLP([5, 12, 12, 12, 3], "relu").double()
    x0, y = torch.randn(24, 5, dtype=torch.float64), torch.randn(24, 3, dtype=torch.float64)
    values = _monotone_run(net, "bregman", x0, y, steps=15, order="backward")
    assert all(b <= a + 1e-10 * abs(values[0]) for a, b in zip(values[:-1], values[1:]))
    assert values[-1] < values[0]
    with pytest.raises(ValueError, match="order"):
        BCD(LiftedProblem(net), order="random")


@pytest.mark.parametrize("order", ["even-odd", "backward"])
def test_aux_sweep_builds_no_autograd_graph(order):
    net = MLP([4, 6, 6, 2])
    problem = LiftedProblem(net)
    x0, y = torch.randn(5, 4), torch.randn(5, 2)
    states, cache = problem.init_aux(x0)
    problem.aux_sweep(states, y, cache, problem.map_norms(), order=order)
    assert not any(s.requires_grad for s in states)
    assert not any(v.requires_grad for v in cache.values())


@pytest.mark.parametrize("frozen", [None, "bias", "weight"])
def test_weight_block_norm_is_over_the_trainable_parameters(frozen):
    """:math:`J_l: \\theta_l \\mapsto v_l` of a dense layer on a batch X: :math:`\\|J\\|^2 = \\|[X, 1]\\|^2`
    with weight and bias, :math:`\\|X\\|^2` with the bias frozen, :math:`s` with the weight frozen."""
    torch.manual_seed(0)
    net = MLP([5, 4, 2]).double()
    if frozen is not None:
        getattr(net.layer(1).linear, frozen).requires_grad_(False)
    problem = LiftedProblem(net)
    x0 = torch.randn(9, 5, dtype=torch.float64)
    states, _ = problem.init_aux(x0)
    est, vecs = problem.jacobian_norm_sq(1, states, None, 300)
    ones = torch.ones(9, 1, dtype=torch.float64)
    design = {None: torch.cat([x0, ones], 1), "bias": x0, "weight": ones}[frozen]
    assert est == pytest.approx(torch.linalg.matrix_norm(design, ord=2).item() ** 2, rel=1e-9)
    assert len(vecs) == (1 if frozen else 2)
    params = [p for p in net.parameters() if p.requires_grad]
    grads, _ = problem.weight_gradients(states, torch.randn(9, 2, dtype=torch.float64), list(net.parameters()))
    assert [g is None for g in grads] == [not p.requires_grad for p in net.parameters()]
    assert len(params) == 4 - (frozen is not None)
