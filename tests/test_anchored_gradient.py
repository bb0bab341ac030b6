"""The forward-anchored lifted weight gradient (BCD(gradient='forward')) and Adam's scale invariance."""

from __future__ import annotations

import pytest
import torch

from liftinv.lifting import LiftedProblem, geometric_weights
from liftinv.models import CNN, MLP
from liftinv.solvers import BCD, ISGM, Adam


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()))


def _swept(net, x, y, lam, order="backward"):
    problem = LiftedProblem(net, "bregman", lam=lam)
    states, cache = problem.init_aux(x)
    forward = list(states)
    problem.aux_sweep(states, y, cache, problem.map_norms(exact=True), 1.0, order)
    return problem, states, forward


def _backprop(problem, net, x, y):
    net.zero_grad()
    problem.loss(x, y).backward()
    return [p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize("act, floor", [("relu", 0.9999), ("hardtanh", 0.9999), ("tanh", 0.99), ("sigmoid", 0.99)])
def test_anchored_gradient_is_backprop_per_layer_to_first_order(act, floor):
    """Small displacements (a large penalty weight): every layer's anchored gradient points where
    back-propagation's does, up to one positive scale per layer for piecewise-linear activations
    (the prox keeps the 0/1 mask of sigma') and nearly so for smooth ones (the prox's slope
    replaces sigma'); the loss layer's is exactly the loss gradient."""
    torch.manual_seed(0)
    net = MLP([6, 12, 12, 12, 3], act).double()
    x, y = torch.randn(40, 6, dtype=torch.float64), torch.randn(40, 3, dtype=torch.float64)
    problem, states, forward = _swept(net, x, y, lam=1e4)
    grads, _ = problem.weight_gradients(states, y, list(net.parameters()), inputs=forward)
    exact = _backprop(problem, net, x, y)
    for g, b in zip(grads, exact):
        assert _cos(g, b) > floor
    torch.testing.assert_close(grads[-2], exact[-2])  # the output layer's weights: the loss gradient


def test_graphs_give_the_same_gradient_as_inputs_and_the_forward_pass():
    torch.manual_seed(1)
    net = CNN((1, 8, 8), (3, 4), out_features=2)
    x, y = torch.rand(5, 1, 8, 8), torch.randn(5, 2)
    problem = LiftedProblem(net, "bregman", lam=2.0)
    states, cache, graphs = problem.forward_graphs(x)
    ref_states, ref_cache = problem.init_aux(x)
    for a, b in zip(states, ref_states):
        torch.testing.assert_close(a, b)
        assert not a.requires_grad
    assert all(torch.equal(cache[k], ref_cache[k]) for k in ref_cache)
    forward = list(states)
    problem.aux_sweep(states, y, cache, problem.map_norms(exact=True), 1.0, "backward")
    params = list(net.parameters())
    via_graphs, _ = problem.weight_gradients(states, y, params, graphs=graphs)
    via_inputs, _ = problem.weight_gradients(states, y, params, inputs=forward)
    for a, b in zip(via_graphs, via_inputs):
        torch.testing.assert_close(a, b)


def test_at_the_forward_point_only_the_loss_layer_has_a_gradient():
    torch.manual_seed(2)
    net = MLP([4, 8, 8, 2], "relu")
    x, y = torch.randn(16, 4), torch.randn(16, 2)
    problem = LiftedProblem(net, "bregman")
    states, _, graphs = problem.forward_graphs(x)
    grads, _ = problem.weight_gradients(states, y, list(net.parameters()), graphs=graphs)
    exact = _backprop(problem, net, x, y)
    assert all(float(g.abs().max()) == 0.0 for g in grads[:-2])
    torch.testing.assert_close(grads[-2], exact[-2])
    torch.testing.assert_close(grads[-1], exact[-1])


@pytest.mark.parametrize("solver_cls", [BCD, ISGM])
def test_anchored_bcd_lowers_the_true_loss(solver_cls):
    torch.manual_seed(3)
    net = MLP([5, 16, 16, 1], "tanh")
    x = torch.randn(128, 5)
    y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:2]
    problem = LiftedProblem(net, "bregman", lam=10.0)
    extra = {"inner_iters": 2} if solver_cls is ISGM else {}
    solver = solver_cls(problem, weights=Adam(lr=1e-2), order="backward", gradient="forward", **extra)
    before = float(problem.loss(x, y).detach())
    for _ in range(100):
        solver.step_batch(x, y)
    assert float(problem.loss(x, y).detach()) < 0.3 * before
    assert solver.config["gradient"] == "forward"
    assert BCD.from_config(LiftedProblem(net), solver.config).settings()["gradient"] == "forward"


def test_unknown_gradient_is_refused():
    with pytest.raises(ValueError, match="gradient must be one of"):
        BCD(LiftedProblem(MLP([2, 3, 1])), weights="adam", gradient="middle")


def test_adam_moves_layers_with_tiny_penalty_weights():
    """Adam sees each block's own term P_l: a penalty weight of 1e-12 must not leave the layer
    frozen under eps (it would, without dividing by lam_l)."""
    torch.manual_seed(4)
    net = MLP([4, 8, 8, 8, 1], "relu")
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    solver = BCD(LiftedProblem(net, "bregman", lam=[1e-12, 1e-6, 1.0]), weights=Adam(lr=1e-3),
                 order="backward", gradient="forward")
    first = net.layer(1).linear.weight.detach().clone()
    for _ in range(5):
        solver.step_batch(x, y)
    moved = (net.layer(1).linear.weight.detach() - first).abs().max()
    assert moved > 1e-4  # Adam's steps are about lr = 1e-3 per entry


def test_geometric_weights_and_their_errors():
    assert geometric_weights(4, top=10.0, ratio=0.5) == [2.5, 5.0, 10.0]
    assert geometric_weights(3, top=2.0, ratio=1.0) == [2.0, 2.0]
    for bad in (dict(ratio=0.0), dict(ratio=1.5), dict(top=-1.0)):
        with pytest.raises(ValueError):
            geometric_weights(5, **bad)


def test_geometric_weights_carry_the_signal_through_twenty_layers():
    """The failure they fix: with equal weights the first layers of a 20-layer ReLU MLP get exactly
    zero anchored gradient after one backward sweep; with geometric weights and step scale 1.9
    every layer's gradient points where back-propagation's does."""
    torch.manual_seed(0)
    depth = 20
    net = MLP([20] + [32] * depth + [1], "relu")
    x, y = torch.randn(64, 20), torch.randn(64, 1)
    exact = None
    cosines = {}
    for rule, scale in (("equal", 1.0), ("geometric", 1.9)):
        lam = 10.0 if rule == "equal" else geometric_weights(depth + 1, top=10.0, ratio=0.2)
        problem = LiftedProblem(net, "bregman", lam=lam)
        states, cache, graphs = problem.forward_graphs(x)
        problem.aux_sweep(states, y, cache, problem.map_norms(exact=True), scale, "backward")
        grads, _ = problem.weight_gradients(states, y, list(net.parameters()), graphs=graphs)
        exact = exact or _backprop(problem, net, x, y)
        cosines[rule] = [_cos(grads[2 * i], exact[2 * i]) if grads[2 * i].abs().max() > 0 else 0.0
                         for i in range(depth + 1)]
    assert cosines["equal"][0] == 0.0  # no signal reaches the first layer
    assert min(cosines["geometric"]) > 0.5


def test_step_scale_keyword():
    net = MLP([3, 4, 1])
    solver = BCD(LiftedProblem(net), weights="adam", step_scale=1.9)
    assert solver.settings()["step_scale"] == 1.9 and solver.config["step_scale"] == 1.9
    assert BCD.from_config(LiftedProblem(net), solver.config).settings()["step_scale"] == 1.9
    with pytest.raises(ValueError, match="ProxGrad"):
        BCD(LiftedProblem(net), weights="prox-grad", step_scale=1.5)
    with pytest.raises(ValueError, match="step_scale"):
        BCD(LiftedProblem(net), weights="adam", step_scale=2.5)


def _matched(net, x, y, lam=1.0):
    problem = LiftedProblem(net, "bregman", lam=lam)
    states, cache, graphs = problem.forward_graphs(x)
    eps = problem.matched_sweep(states, cache, y, problem.map_norms(), 1.0)  # any step sizes
    grads, _ = problem.weight_gradients(states, y, list(net.parameters()), graphs=graphs, residuals=eps)
    return problem, grads


@pytest.mark.parametrize("arch", ["sccp", "dfb-inertial"])
def test_matched_gradient_is_backprop_with_skips_and_shared_operators(arch):
    """ScCP's operator is shared by its dual and primal layers and its states are read through
    skips; the matched sweep still gives back-propagation's gradient, direction and size, where
    the plain forward-anchored gradient does not."""
    from liftinv.denoising.models import default_arch
    from liftinv.restoration import build_network

    net = build_network(default_arch(arch, 1, 12, depth=3, features=4), device="cpu", seed=0).double()
    net.refresh(n_iter=50)
    clean = torch.rand(6, 1, 12, 12, dtype=torch.float64)
    noisy = (clean + 0.05 * torch.randn_like(clean)).clamp(0, 1)
    problem, grads = _matched(net, noisy, clean)
    exact = _backprop(problem, net, noisy, clean)
    for g, b in zip(grads, exact):  # to first order in the displacement: 0.999 measured
        assert _cos(g, b) > 0.995
        assert float(g.norm() / b.norm()) == pytest.approx(1.0, rel=0.05)
    if arch == "sccp":
        plain_states, plain_cache, plain_graphs = problem.forward_graphs(noisy)
        forward = list(plain_states)
        problem.aux_sweep(plain_states, clean, plain_cache, problem.map_norms(), 1.0, "backward")
        plain, _ = problem.weight_gradients(plain_states, clean, list(net.parameters()), inputs=forward,
                                            graphs=plain_graphs)
        assert min(_cos(g, b) for g, b in zip(plain, exact)) < 0.99  # what the matched sweep fixes


def _tanh_regression(seed: int):
    """A small tanh MLP's lifted problem and a smooth regression task."""
    torch.manual_seed(seed)
    net = MLP([5, 16, 16, 1], "tanh")
    x = torch.randn(256, 5)
    return LiftedProblem(net, "bregman", lam=10.0), x, torch.sin(x[:, :1]) + 0.5 * x[:, 1:2]


def test_matched_bcd_trains_and_checks_its_settings():
    problem, x, y = _tanh_regression(5)
    solver = ISGM(problem, weights=Adam(lr=1e-2), order="backward", gradient="matched", inner_iters=2)
    before = float(problem.loss(x, y).detach())
    for _ in range(100):
        solver.step_batch(x, y)
    assert float(problem.loss(x, y).detach()) < 0.3 * before
    for bad, match in ((dict(order="even-odd"), "order='even-odd'"), (dict(aux="keep"), "aux='keep'"),
                       (dict(weights="prox-grad"), "weights='prox-grad'"), (dict(aux_iters=2), "aux_iters=2")):
        kwargs = dict(weights="adam", order="backward", gradient="matched") | bad
        with pytest.raises(ValueError, match=match):
            BCD(LiftedProblem(MLP([2, 3, 1])), **kwargs)


@pytest.mark.parametrize("penalty, act", [("fenchel", "relu"), ("mac", "tanh"), ("bregman", "hardtanh")])
def test_matched_gradient_is_backprop_for_every_penalty(penalty, act):
    """The scale C_m carries the penalty's curvature (Fenchel's gradient is twice Bregman's) and
    MAC's sigma': the matched gradient is back-propagation's, direction and size."""
    torch.manual_seed(6)
    net = MLP([4, 8, 8, 8, 2], act).double()
    x, y = torch.randn(32, 4, dtype=torch.float64), torch.randn(32, 2, dtype=torch.float64)
    problem = LiftedProblem(net, penalty, lam=3.0)
    with torch.no_grad():  # a target near the output: small displacements, the first-order regime
        target = 1e-3 * y + (1 - 1e-3) * problem.sample_losses(x, y)[1]
    states, cache, graphs = problem.forward_graphs(x)
    eps = problem.matched_sweep(states, cache, target, problem.map_norms(), 1.0)
    grads, _ = problem.weight_gradients(states, target, list(net.parameters()), graphs=graphs, residuals=eps)
    exact = _backprop(problem, net, x, target)
    for g, b in zip(grads, exact):
        assert _cos(g, b) > 0.999
        assert float(g.norm() / b.norm()) == pytest.approx(1.0, rel=0.02)


def _fused_and_separate(net, x, y, penalty="bregman"):
    problem = LiftedProblem(net, penalty, lam=2.0)
    params = list(net.parameters())
    norms = problem.map_norms()
    states, cache, graphs = problem.forward_graphs(x)
    eps = problem.matched_sweep(states, cache, y, norms, 1.0)
    grads, _ = problem.weight_gradients(states, y, params, graphs=graphs, residuals=eps)
    f_states, f_cache, f_graphs = problem.forward_graphs(x, inputs_require_grad=True)
    assert all(s.requires_grad for s in f_states[1:]) and not f_states[0].requires_grad
    f_eps, f_grads = problem.matched_sweep(f_states, f_cache, y, norms, 1.0, graphs=f_graphs, params=params)
    return (states, eps, grads), (f_states, f_eps, f_grads)


@pytest.mark.parametrize("arch", ["mlp", "cnn", "dfb", "dfb-inertial", "sccp"])
def test_fused_matched_sweep_gives_the_separate_sweep_and_gradients(arch):
    """The fused sweep takes each layer's adjoint products and weight gradient in one backward
    pass: the same states, residuals and gradients as the sweep followed by weight_gradients, on
    plain chains, convolutions, skips and operators shared between layers."""
    torch.manual_seed(7)
    if arch == "mlp":
        net, x = MLP([4, 8, 8, 2], "tanh").double(), torch.randn(16, 4, dtype=torch.float64)
        y = torch.randn(16, 2, dtype=torch.float64)
    elif arch == "cnn":
        net = CNN((1, 8, 8), [3, 4], 2, kernel_size=3, activation="relu").double()
        x, y = torch.randn(5, 1, 8, 8, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    else:
        from liftinv.denoising.models import default_arch
        from liftinv.restoration import build_network

        net = build_network(default_arch(arch, 1, 12, depth=3, features=4), device="cpu", seed=0).double()
        net.refresh(n_iter=50)
        y = torch.rand(6, 1, 12, 12, dtype=torch.float64)
        x = (y + 0.05 * torch.randn_like(y)).clamp(0, 1)
    (states, eps, grads), (f_states, f_eps, f_grads) = _fused_and_separate(net, x, y)
    assert sorted(eps) == sorted(f_eps) and len(grads) == len(f_grads) == len(list(net.parameters()))
    for k in eps:
        torch.testing.assert_close(f_eps[k], eps[k], rtol=1e-10, atol=1e-12)
    for s, f in zip(states[1:], f_states[1:]):
        torch.testing.assert_close(f, s, rtol=1e-10, atol=1e-12)
    for g, f in zip(grads, f_grads):
        assert (g is None) == (f is None)
        if g is not None:
            torch.testing.assert_close(f, g, rtol=1e-9, atol=1e-12)


def test_fused_matched_sweep_leaves_frozen_parameters_without_gradient():
    torch.manual_seed(8)
    net = MLP([3, 6, 6, 1], "relu").double()
    net.layer(2).linear.weight.requires_grad_(False)
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
    (_, _, grads), (_, _, f_grads) = _fused_and_separate(net, x, y)
    frozen = [i for i, p in enumerate(net.parameters()) if not p.requires_grad]
    assert frozen and all(f_grads[i] is None and grads[i] is None for i in frozen)
    assert all(f is not None for i, f in enumerate(f_grads) if i not in frozen)


# -- the mirror step (aux_step='mirror') ----------------------------------------------------------
@pytest.mark.parametrize("penalty, act", [("bregman", "tanh"), ("bregman", "sigmoid"), ("fenchel", "relu")])
def test_mirror_step_solves_its_block_problem(penalty, act):
    """y = sigma(v - h g), h = mirror_scale(mu, c), makes the gradient of mu <g, y> + c kappa B(y, v) +
    D_phi(y, sigma(v)) vanish: (1 + kappa c)(grad phi(y) - v) + mu g = 0, with grad phi = sigma^{-1}
    (atanh, logit; for ReLU on its active part)."""
    from liftinv.activations import get_activation
    from liftinv.lifting.penalties import get_penalty

    torch.manual_seed(9)
    pen, a = get_penalty(penalty), get_activation(act)
    v, g = 2 * torch.randn(200, dtype=torch.float64), torch.randn(200, dtype=torch.float64)
    mu, c = 0.3, 0.7
    y = a.sigma(v) - a.increment(v, pen.mirror_scale(mu, c) * g)
    grad_phi = {"tanh": torch.atanh, "sigmoid": torch.logit, "relu": lambda t: t}[act](y)
    active = y > 0 if act == "relu" else torch.ones_like(y, dtype=torch.bool)
    residual = (1 + pen.curvature * c) * (grad_phi - v) + mu * g
    assert active.sum() > 50
    torch.testing.assert_close(residual[active], torch.zeros_like(residual[active]), atol=1e-8, rtol=0)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "elu"])
def test_mirror_matched_gradient_is_backprop_with_smooth_activations(act):
    """The mirror step's displacement is sigma'(v^f) times the back-propagated signal, so the matched
    gradient is back-propagation's with the true sigma' (the prox step's slope only approximates it)."""
    torch.manual_seed(10)
    net = MLP([4, 8, 8, 8, 2], act).double()
    x, y = torch.randn(32, 4, dtype=torch.float64), torch.randn(32, 2, dtype=torch.float64)
    problem = LiftedProblem(net, "bregman", lam=3.0)
    with torch.no_grad():  # small displacements: the first-order regime
        target = 1e-4 * y + (1 - 1e-4) * problem.sample_losses(x, y)[1]
    exact = _backprop(problem, net, x, target)
    states, cache, graphs = problem.forward_graphs(x)
    eps = problem.matched_sweep(states, cache, target, problem.map_norms(), 1.0, mirror=True)
    grads, _ = problem.weight_gradients(states, target, list(net.parameters()), graphs=graphs, residuals=eps)
    for g, b in zip(grads, exact):
        assert _cos(g, b) > 0.99999
        assert float(g.norm() / b.norm()) == pytest.approx(1.0, rel=1e-3)


def test_mirror_and_prox_steps_agree_where_the_activation_is_the_identity():
    """An unsaturated clip unit is the identity: there both steps give the same state."""
    torch.manual_seed(11)
    net = MLP([4, 8, 8, 2], "hardtanh").double()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.05)  # pre-activations far inside (-1, 1)
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    problem = LiftedProblem(net, "bregman", lam=2.0)
    out = []
    for mirror in (False, True):
        states, cache, _ = problem.forward_graphs(x)
        eps = problem.matched_sweep(states, cache, y, problem.map_norms(exact=True), 1.0, mirror=mirror)
        out.append((states, eps))
    for a, b in zip(out[0][0][1:], out[1][0][1:]):
        assert float(a.abs().max()) < 1
        torch.testing.assert_close(a, b)
    for k in out[0][1]:
        torch.testing.assert_close(out[0][1][k], out[1][1][k])


@pytest.mark.parametrize("arch", ["mlp", "sccp"])
def test_fused_mirror_sweep_gives_the_separate_one(arch):
    torch.manual_seed(12)
    if arch == "mlp":
        net, x = MLP([4, 8, 8, 2], "sigmoid").double(), torch.randn(16, 4, dtype=torch.float64)
        y = torch.randn(16, 2, dtype=torch.float64)
    else:
        from liftinv.denoising.models import default_arch
        from liftinv.restoration import build_network

        net = build_network(default_arch(arch, 1, 12, depth=3, features=4), device="cpu", seed=0).double()
        net.refresh(n_iter=50)
        y = torch.rand(6, 1, 12, 12, dtype=torch.float64)
        x = (y + 0.05 * torch.randn_like(y)).clamp(0, 1)
    problem, params = LiftedProblem(net, "bregman", lam=2.0), list(net.parameters())
    norms = problem.map_norms()
    states, cache, graphs = problem.forward_graphs(x)
    eps = problem.matched_sweep(states, cache, y, norms, 1.0, mirror=True)
    grads, _ = problem.weight_gradients(states, y, params, graphs=graphs, residuals=eps)
    f_states, f_cache, f_graphs = problem.forward_graphs(x, inputs_require_grad=True)
    f_eps, f_grads = problem.matched_sweep(f_states, f_cache, y, norms, 1.0, graphs=f_graphs, params=params,
                                           mirror=True)
    for k in eps:
        torch.testing.assert_close(f_eps[k], eps[k], rtol=1e-10, atol=1e-12)
    for g, f in zip(grads, f_grads):
        if g is not None:
            torch.testing.assert_close(f, g, rtol=1e-9, atol=1e-12)


def test_mirror_bcd_trains_and_checks_its_settings():
    problem, x, y = _tanh_regression(13)
    solver = BCD(problem, weights=Adam(lr=1e-2), order="backward", gradient="matched", aux_step="mirror")
    assert solver.config["aux_step"] == "mirror"
    assert BCD.from_config(problem, solver.config).config == solver.config
    before = float(problem.loss(x, y).detach())
    for _ in range(150):
        solver.step_batch(x, y)
    assert float(problem.loss(x, y).detach()) < 0.3 * before
    with pytest.raises(ValueError, match="gradient='matched'"):
        BCD(LiftedProblem(MLP([2, 3, 1])), weights="adam", order="backward", aux_step="mirror")
    with pytest.raises(ValueError, match="Bregman-type penalty"):
        BCD(LiftedProblem(MLP([2, 3, 1], "tanh"), "mac"), weights="adam", order="backward", gradient="matched",
            aux_step="mirror")
    with pytest.raises(ValueError, match="aux_step must be one of"):
        BCD(LiftedProblem(MLP([2, 3, 1])), aux_step="newton")


def test_mirror_steps_are_the_default_of_the_matched_gradient():
    """BCD(gradient='matched') takes small mirror steps unless told otherwise, the restoration trainer
    included (since 2026-12-07); other gradients and MAC take the prox."""
    from liftinv.denoising.models import default_arch
    from liftinv.restoration import TrainConfig, build_network, make_solver
    from liftinv.solvers.bcd import MIRROR_STEP_SCALE

    net = MLP([3, 4, 1], "tanh")
    matched = BCD(LiftedProblem(net), weights="adam", order="backward", gradient="matched")
    assert matched.settings()["aux_step"] == "mirror" and matched.settings()["step_scale"] == MIRROR_STEP_SCALE
    scaled = BCD(LiftedProblem(net), weights="adam", order="backward", gradient="matched", step_scale=0.5)
    assert scaled.settings()["step_scale"] == 0.5
    for kwargs in (dict(gradient="forward"), dict(gradient="aux")):
        s = BCD(LiftedProblem(net), weights="adam", order="backward", **kwargs).settings()
        assert s["aux_step"] == "prox" and s["step_scale"] == 1.0
    mac = BCD(LiftedProblem(net, "mac"), weights="adam", order="backward", gradient="matched")
    assert mac.settings()["aux_step"] == "prox"
    dfb = build_network(default_arch("dfb", 1, 12, depth=2, features=4), device="cpu", seed=0)
    restoration = make_solver(dfb, TrainConfig(trainer="lifted", epochs=1))
    assert restoration.settings()["gradient"] == "matched" and restoration.settings()["aux_step"] == "mirror"
    assert restoration.settings()["step_scale"] == MIRROR_STEP_SCALE
    isgm = make_solver(dfb, TrainConfig(trainer="isgm", epochs=1))  # a matched sweep every inner iteration
    assert isgm.settings()["gradient"] == "matched" and isgm.settings()["aux_step"] == "mirror"


@pytest.mark.parametrize("mirror, act", [(False, "relu"), (True, "tanh")])
def test_matched_sweep_does_not_write_into_a_readers_residual(mirror, act):
    """A block whose first reader is an identity map gets that reader's residual itself from the
    adjoint: the sweep must step on a copy, or the reader's weight gradient is corrupted."""
    from liftinv.models import Dense, IdentityMap, Layer, LiftedNetwork

    torch.manual_seed(14)
    net = LiftedNetwork([Layer(Dense(4, 6), act), Layer(IdentityMap(), act, skip=(0, Dense(4, 6))),
                         Layer(Dense(6, 6), act), Layer(Dense(6, 2), "identity")], (4,)).double()
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    problem = LiftedProblem(net, "bregman", lam=3.0)
    with torch.no_grad():
        target = 1e-4 * y + (1 - 1e-4) * problem.sample_losses(x, y)[1]  # the first-order regime
    exact = _backprop(problem, net, x, target)
    states, cache, graphs = problem.forward_graphs(x)
    step = 1e-3 if mirror else 1.0
    eps = problem.matched_sweep(states, cache, target, problem.map_norms(), step, mirror=mirror)
    grads, _ = problem.weight_gradients(states, target, list(net.parameters()), graphs=graphs, residuals=eps)
    for g, b in zip(grads, exact):
        assert _cos(g, b) > 0.999
        assert float(g.norm() / b.norm()) == pytest.approx(1.0, rel=0.01)
