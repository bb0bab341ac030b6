"""Solvers: every variant trains, runs are reproducible, CPU and CUDA share one path."""

import copy
import json
import math
import sys

import pytest
import torch

from liftinv.lifting import LiftedProblem
from liftinv.models import MLP
from liftinv.solvers import (
    BCD,
    ISGM,
    Adam,
    Backprop,
    ForwardAux,
    KeptAux,
    PenaltySchedule,
    ProxGrad,
    accuracy,
    fit,
)


def _teacher_data(n=256, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    teacher = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    for p in teacher.parameters():
        p.data = torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5
    x = torch.randn(n, 8, generator=g)
    with torch.no_grad():
        y = teacher(x)
    return x.to(device), y.to(device)


SOLVERS = {
    "bcd": lambda p: BCD(p),
    "bcd-nesterov": lambda p: BCD(p, weights=ProxGrad(momentum="nesterov", beta=0.5)),
    "bcd-heavy-ball": lambda p: BCD(p, weights=ProxGrad(momentum="heavy-ball", beta=0.5)),
    "bcd-adam": lambda p: BCD(p, weights=Adam(lr=3e-3)),
    "bcd-keep": lambda p: BCD(p, aux=KeptAux()),
    "isgm": lambda p: ISGM(p, tau=1.0, inner_iters=3),
    "mac": lambda p: BCD(LiftedProblem(p.network, "mac")),
    "fenchel": lambda p: BCD(LiftedProblem(p.network, "fenchel")),
    "backprop": lambda p: Backprop(p, lr=3e-3),
}


@pytest.mark.parametrize("name", list(SOLVERS))
def test_every_solver_reduces_the_network_loss(name, device):
    torch.manual_seed(0)
    x, y = _teacher_data(device=device)
    net = MLP([8, 32, 32, 2], "relu").to(device)
    solver = SOLVERS[name](LiftedProblem(net))
    start = solver.problem.loss(x, y).item()
    hist = fit(solver, x, y, epochs=8, batch_size=32, progress=False, seed=1)
    assert len(hist) == 8 and hist.final["iterations"] == 64
    assert hist.final["train_loss"] < 0.7 * start, (start, hist.column("train_loss"))
    for key in ("lifted", "violation", "loss", "seconds", "train_loss"):
        assert all(torch.isfinite(torch.tensor(v)) for v in hist.column(key))
    if name == "backprop":  # no auxiliaries: the lifted objective is the batch loss
        assert hist.column("loss") == hist.column("lifted")
    assert hist.final["loss"] < 0.8 * start  # the monitored batch loss falls with the true loss
    assert all(p.device.type == torch.device(device).type for p in net.parameters())


@pytest.mark.parametrize("gradient", ["aux", "forward", "matched"])
def test_the_monitored_loss_is_the_batch_loss_before_the_step(gradient):
    """The matched step reads it from its own forward pass, the others from a second one: the same
    number, the network's loss on the batch at the weights the step starts from."""
    torch.manual_seed(0)
    x, y = _teacher_data()
    net = MLP([8, 16, 16, 2], "tanh")
    solver = BCD(LiftedProblem(net), weights=Adam(lr=1e-2), gradient=gradient)
    for _ in range(3):
        before = solver.problem.loss(x[:32], y[:32]).item()
        stats = solver.step_batch(x[:32], y[:32])
        assert stats["loss"] == pytest.approx(before, rel=1e-6) and stats["violation"] >= 0
    assert solver.problem.loss(x[:32], y[:32]).item() != before  # the weights moved


def test_the_monitored_loss_of_a_fused_matched_step_is_the_batch_loss_before_the_step():
    """The DFB-PNN's layers are not linear in their parameters' maps alone: the matched sweep is
    fused with autograd there, and its monitor reads the same forward pass."""
    from liftinv.models import DFBPNN
    torch.manual_seed(0)
    clean = torch.rand(4, 1, 8, 8)
    noisy = clean + 0.1 * torch.randn_like(clean)
    solver = BCD(LiftedProblem(DFBPNN((1, 8, 8), depth=2, features=4)), weights=Adam(lr=1e-2), gradient="matched")
    assert solver._fuse_matched
    for _ in range(2):
        before = solver.problem.loss(noisy, clean).item()
        assert solver.step_batch(noisy, clean)["loss"] == pytest.approx(before, rel=1e-6)


def test_runs_are_reproducible_from_the_seed():
    x, y = _teacher_data()
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        net = MLP([8, 16, 2])
        solver = BCD(LiftedProblem(net), weights=ProxGrad(momentum="nesterov"))
        hist = fit(solver, x, y, epochs=3, batch_size=64, progress=False, seed=5)
        runs.append((hist.column("train_loss"), [p.detach().clone() for p in net.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_time_budget_stops_at_the_step_that_reaches_it_and_callback_stops_training(monkeypatch):
    """A fake clock in fit (every read 1/128 s after the last: each step "takes" 1/128 s), so the
    budget rule is checked exactly, not against the wall clock of a busy machine."""
    import types

    fit_module = sys.modules[fit.__module__]
    clock = {"t": 0.0}

    def perf_counter():
        clock["t"] += 1 / 128
        return clock["t"]

    monkeypatch.setattr(fit_module, "time", types.SimpleNamespace(perf_counter=perf_counter))
    x, y = _teacher_data()
    hist = fit(BCD(LiftedProblem(MLP([8, 16, 2]))), x, y, time_budget=0.25, batch_size=16, progress=False)
    assert hist.final["iterations"] == 32 and hist.final["seconds"] == 0.25  # 0.25 s / (1/128 s per step)
    monkeypatch.undo()
    seen = []
    hist = fit(Backprop(MLP([8, 16, 2])), x, y, epochs=10, progress=False,
               callback=lambda r: seen.append(r) or len(seen) < 2)
    assert len(hist) == 2 == len(seen)


def test_classifier_with_softmax_cross_entropy_and_test_metrics():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    centers = 3 * torch.randn(3, 5, generator=g)
    labels = torch.randint(0, 3, (300,), generator=g)
    x = centers[labels] + torch.randn(300, 5, generator=g)
    y = torch.nn.functional.one_hot(labels, 3).float()
    net = MLP([5, 16, 3], "relu", "softmax")
    hist = fit(BCD(LiftedProblem(net), weights=Adam(lr=1e-2)), x[:200], y[:200], x_test=x[200:],
               y_test=y[200:], epochs=10, batch_size=50, metrics={"accuracy": accuracy}, progress=False)
    assert hist.final["test_accuracy"] > 0.9
    # the loss is the cross-entropy
    ce = torch.nn.functional.cross_entropy(net.logits(x[200:]), labels[200:]).item()
    assert hist.final["test_loss"] == pytest.approx(ce, rel=1e-5)


def test_optimizer_contract_state_dict_and_step():
    torch.manual_seed(0)
    x, y = _teacher_data(64)
    net = MLP([8, 16, 2])
    solver = BCD(LiftedProblem(net), weights="adam")
    assert isinstance(solver, torch.optim.Optimizer) and len(solver.param_groups) == 2
    with pytest.raises(RuntimeError, match="set_batch"):
        solver.step()
    solver.set_batch(x, y)
    solver.step()
    state = copy.deepcopy(solver.state_dict())  # as if saved to disk: no shared buffers
    net2 = MLP([8, 16, 2])
    net2.load_state_dict(net.state_dict())
    solver2 = BCD(LiftedProblem(net2), weights="adam")
    solver2.load_state_dict(state)
    solver.step_batch(x, y)
    solver2.step_batch(x, y)
    assert all(torch.allclose(a, b) for a, b in zip(net.parameters(), net2.parameters()))


def test_adam_weight_update_is_torch_adam_layer_by_layer():
    """The layers' Adam updates, batched into one set of foreach kernels, are torch.optim.Adam
    with the same per-layer settings (a layer with its own learning rate included)."""
    torch.manual_seed(0)
    net = MLP([4, 6, 6, 2])
    ref = copy.deepcopy(net)
    solver = BCD(LiftedProblem(net), weights=Adam(lr=1e-2, weight_decay=0.1))
    solver.param_groups[1]["lr"] = 3e-2
    groups = [{"params": list(ref.layer(g["layer"]).parameters()), "lr": g["lr"]} for g in solver.param_groups]
    adam = torch.optim.Adam(groups, weight_decay=0.1)
    for _ in range(3):
        grads = [torch.randn_like(p) for p in net.parameters()]
        for p, g in zip(ref.parameters(), grads):
            p.grad = g.clone()
        adam.step()
        solver._update_weights([g.clone() for g in grads], None, None, 1)
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)


def test_invalid_solver_settings():
    p = LiftedProblem(MLP([2, 3, 1]))
    for kwargs in [dict(weights="sgd"), dict(weights=dict(name="prox-grad", momentum="polyak")),
                   dict(aux="disk"), dict(aux=dict(name="keep", storage="disk")), dict(inner_iters=0),
                   dict(weights=dict(name="adam", betas=(1.5, 0.9)))]:
        with pytest.raises(ValueError):
            BCD(p, **kwargs)
    with pytest.raises(TypeError):
        Adam(momentum="nesterov")  # Adam has its own
    with pytest.raises(ValueError, match="prox_weight"):
        ISGM(p, prox_weight=0.5)
    with pytest.raises(ValueError, match="tau"):
        ISGM(p, tau=0)
    with pytest.raises(ValueError, match="epochs or time_budget"):
        fit(BCD(p), torch.randn(4, 2), torch.randn(4, 1))


def test_penalty_weight_continuation_grows_caps_and_survives_a_state_dict_round_trip():
    x, y = _teacher_data(64)
    problem = LiftedProblem(MLP([8, 16, 16, 2]))
    solver = BCD(problem, weights="adam", schedule=PenaltySchedule(growth=2.0, max=20.0))
    for expected in (2.0, 4.0, 8.0, 16.0, 20.0, 20.0):
        solver.step_batch(x, y)
        assert problem.lam == [expected, expected]
    fresh = LiftedProblem(MLP([8, 16, 16, 2]))
    resumed = BCD(fresh, weights="adam", schedule=PenaltySchedule(growth=2.0, max=20.0))
    resumed.load_state_dict(copy.deepcopy(solver.state_dict()))
    resumed.step_batch(x, y)
    assert fresh.lam == [20.0, 20.0]
    with pytest.raises(ValueError, match="growth"):
        BCD(problem, schedule=PenaltySchedule(growth=0.5))


# the backward order carries the loss to every layer in one sweep, so that every weight moves
FROZEN_SOLVERS = {
    "bcd-prox-grad": lambda p: BCD(p, order="backward"),
    "bcd-nesterov": lambda p: BCD(p, weights=ProxGrad(momentum="nesterov"), order="backward"),
    "bcd-adam": lambda p: BCD(p, weights=Adam(lr=3e-3), order="backward"),
    "isgm": lambda p: ISGM(p, tau=1.0, inner_iters=2, order="backward"),
    "backprop": lambda p: Backprop(p, lr=3e-3),
}


@pytest.mark.parametrize("name", list(FROZEN_SOLVERS))
def test_every_solver_trains_a_network_with_a_frozen_weight(name):
    torch.manual_seed(0)
    x, y = _teacher_data(128)
    net = MLP([8, 32, 32, 2], "relu")
    frozen = net.layer(2).linear.weight
    frozen.requires_grad_(False)
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    solver = FROZEN_SOLVERS[name](LiftedProblem(net))
    start = solver.problem.loss(x, y).item()
    hist = fit(solver, x, y, epochs=4, batch_size=32, progress=False, seed=1)
    assert torch.equal(frozen, before["layers.1.linear.weight"])
    for k, v in net.named_parameters():
        if k != "layers.1.linear.weight":
            assert not torch.equal(v, before[k]), k
    assert hist.final["train_loss"] < 0.9 * start, (start, hist.column("train_loss"))


def test_lr_scheduler_drives_the_adam_weight_step():
    """The step reads lr from the parameter groups, so torch's schedulers work on BCD."""
    x, y = _teacher_data(64)
    solver = BCD(LiftedProblem(MLP([8, 16, 16, 2])), weights=Adam(lr=1e-2))
    sched = torch.optim.lr_scheduler.StepLR(solver, step_size=1, gamma=0.5)
    solver.step_batch(x, y)
    sched.step()
    assert [g["lr"] for g in solver.param_groups] == [5e-3, 5e-3, 5e-3]
    sched = torch.optim.lr_scheduler.StepLR(solver, step_size=1, gamma=0.0)
    solver.set_batch(x, y)
    solver.step()
    sched.step()  # lr = 0 from now on: the weights stop moving
    frozen = [p.detach().clone() for p in solver.network.parameters()]
    solver.step_batch(x, y)
    assert all(torch.equal(a, b) for a, b in zip(frozen, solver.network.parameters()))


def test_every_setting_is_a_hyperparameter_in_the_groups_the_state_dict_and_the_config(tmp_path):
    x, y = _teacher_data(64)
    problem = LiftedProblem(MLP([8, 16, 16, 2]))
    solver = BCD(problem, weights=Adam(lr=2e-3, betas=(0.8, 0.99), weight_decay=1e-4),
                 aux=KeptAux("mmap", tmp_path), schedule=PenaltySchedule(growth=1.5, max=10.0),
                 order="backward", aux_iters=2, inner_iters=2, lipschitz_every=3, monitor_every=4)
    expected = dict(weights="adam", lr=2e-3, betas=(0.8, 0.99), eps=1e-8, weight_decay=1e-4, aux="keep",
                    aux_storage="mmap", aux_path=str(tmp_path), lam_growth=1.5, lam_max=10.0,
                    order="backward", layer_batching=False, aux_iters=2, inner_iters=2, lipschitz_every=3,
                    monitor_every=4, prox_weight=0.0, exact_norms=False, step_scale=1.0)
    for group in solver.param_groups:
        assert {k: group[k] for k in expected} == expected
    solver.prepare(x.shape[0])
    solver.step_batch(x, y, torch.arange(x.shape[0]))
    state = copy.deepcopy(solver.state_dict())
    for group in state["param_groups"]:
        assert {k: group[k] for k in expected} == expected
    # a default solver takes every setting from the state (as torch.optim does)
    other = BCD(LiftedProblem(MLP([8, 16, 16, 2])))
    with pytest.warns(UserWarning, match="kept auxiliaries are not saved"):  # this solver keeps them
        other.load_state_dict(state)
    assert other.config == solver.config
    config = solver.config
    assert json.loads(json.dumps(config)) == config
    assert config["weights"] == {"name": "adam", "lr": 2e-3, "betas": [0.8, 0.99], "eps": 1e-8,
                                 "weight_decay": 1e-4}
    assert config["aux"] == {"name": "keep", "storage": "mmap", "path": str(tmp_path)}
    assert config["schedule"] == {"growth": 1.5, "max": 10.0}
    rebuilt = BCD.from_config(LiftedProblem(MLP([8, 16, 16, 2])), json.loads(json.dumps(config)))
    assert rebuilt.config == config
    # names are the strategies with their defaults
    assert BCD(problem, weights="adam", aux="keep").config == BCD(problem, weights=Adam(), aux=KeptAux()).config
    assert BCD(problem).config["weights"] == ProxGrad().to_dict()
    assert BCD(problem, aux=ForwardAux()).config == BCD(problem).config
    # backprop states its optimiser in the same form, lifted solvers' Adam settings included
    backprop = Backprop(MLP([8, 16, 2]), lr=2e-3, betas=(0.8, 0.99), weight_decay=1e-4)
    assert json.loads(json.dumps(backprop.config)) == {"solver": "Backprop", "weights": config["weights"]}


def test_per_layer_settings_and_solver_wide_settings():
    x, y = _teacher_data(64)
    solver = BCD(LiftedProblem(MLP([8, 16, 16, 2])), weights="adam")
    solver.param_groups[2]["lr"] = 0.0  # one layer frozen by its learning rate
    last = [p.detach().clone() for p in solver.network.layer(3).parameters()]
    solver.step_batch(x, y)
    assert all(torch.equal(a, b) for a, b in zip(last, solver.network.layer(3).parameters()))
    assert solver.config["layers"] == {"3": {"lr": 0.0}}
    rebuilt = BCD.from_config(LiftedProblem(MLP([8, 16, 16, 2])), solver.config)
    assert [g["lr"] for g in rebuilt.param_groups] == [1e-3, 1e-3, 0.0]
    solver.param_groups[1]["order"] = "even-odd"  # a setting of the whole solver
    with pytest.raises(ValueError, match="whole solver"):
        solver.step_batch(x, y)


def test_isgm_config_round_trip():
    problem = LiftedProblem(MLP([8, 16, 2]))
    solver = ISGM(problem, tau=0.5, inner_iters=2, weights="adam")
    assert solver.tau == 0.5 and solver.param_groups[0]["prox_weight"] == 2.0
    config = solver.config
    assert config["solver"] == "ISGM" and config["tau"] == 0.5 and "prox_weight" not in config
    rebuilt = BCD.from_config(LiftedProblem(MLP([8, 16, 2])), config)
    assert isinstance(rebuilt, ISGM) and rebuilt.config == config


def test_state_dict_of_the_former_adam_layout_loads():
    """A state saved with one Adam step count per layer (``adam_step``) and without the
    settings in its groups resumes with torch's per-tensor counts."""
    torch.manual_seed(0)
    x, y = _teacher_data(64)
    net = MLP([8, 16, 2])
    solver = BCD(LiftedProblem(net), weights="adam")
    solver.step_batch(x, y)
    state = copy.deepcopy(solver.state_dict())
    for group in state["param_groups"]:
        for k in ("weights", "aux", "order", "step_scale"):
            group.pop(k)
        first = group["params"][0]
        for pid in group["params"]:
            state["state"][pid].pop("step")
        state["state"][first]["adam_step"] = 1
    net2 = copy.deepcopy(net)
    resumed = BCD(LiftedProblem(net2), weights="adam")
    resumed.load_state_dict(state)
    solver.step_batch(x, y)
    resumed.step_batch(x, y)
    for a, b in zip(net.parameters(), net2.parameters()):
        torch.testing.assert_close(a, b)


def test_nesterov_with_the_forward_anchored_gradient_takes_it_at_the_extrapolated_weights():
    torch.manual_seed(0)
    net = MLP([4, 8, 8, 2], "relu").double()
    problem = LiftedProblem(net)
    solver = BCD(problem, weights=ProxGrad(momentum="nesterov", beta=0.9), gradient="forward")
    x, y = torch.randn(16, 4, dtype=torch.double), torch.randn(16, 2, dtype=torch.double)
    params = [p for g in solver.param_groups for p in g["params"]]
    gaps, update = [], solver._update_weights

    def checked(grads, states, anchor, batch):  # at the weights the step is taken from
        inputs, _, graphs = problem.forward_graphs(x)
        at_theta_hat, _ = problem.weight_gradients(states, y, params, inputs=inputs, graphs=graphs)
        gaps.append(max(float((g - r).abs().max()) for g, r in zip(grads, at_theta_hat)))
        update(grads, states, anchor, batch)

    solver._update_weights = checked
    before = [p.detach().clone() for p in params]
    for _ in range(3):
        solver.step_batch(x, y)
    assert max(gaps) < 1e-12
    assert any(not torch.equal(p, b) for p, b in zip(params, before))


@pytest.mark.parametrize("aux_step, step_scale", [("mirror", 1.0), ("mirror", None), ("prox", 0.5), ("prox", None)])
def test_config_round_trip_keeps_the_auxiliary_step_scale(aux_step, step_scale):
    problem = LiftedProblem(MLP([4, 8, 8, 2], "relu"))
    solver = BCD(problem, weights=Adam(), gradient="matched", order="backward", aux_step=aux_step,
                 step_scale=step_scale)
    rebuilt = BCD.from_config(problem, json.loads(json.dumps(solver.config)))
    assert rebuilt.settings()["step_scale"] == solver.settings()["step_scale"]
    assert rebuilt.config == solver.config


def test_a_growing_penalty_weight_reaches_the_weight_steps_between_lipschitz_refreshes():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 6, generator=gen, dtype=torch.double), torch.randn(64, 3, generator=gen, dtype=torch.double)
    torch.manual_seed(0)
    problem = LiftedProblem(MLP([6, 32, 32, 3], "relu").double())
    solver = BCD(problem, schedule=PenaltySchedule(growth=2.0), lipschitz_every=10)
    changes, update = [], solver._update_weights

    def watched(grads, states, anchor, batch):  # a 1/L step on a block cannot raise its objective
        before = problem.evaluate(states, y)["lifted"]
        update(grads, states, anchor, batch)
        changes.append(problem.evaluate(states, y)["lifted"] - before)

    solver._update_weights = watched
    for _ in range(10):
        solver.step_batch(x, y)
    assert problem.lam[0] == 2.0**10 and max(changes) <= 1e-12


@pytest.mark.parametrize("kwargs", [{"lipschitz_every": 5}, {"monitor_every": 5, "weights": Adam(lr=1e-2)}],
                         ids=["lipschitz-every", "monitor-every"])
def test_a_resumed_solver_continues_exactly_where_it_stopped(kwargs):
    x, y = torch.randn(32, 4, dtype=torch.double), torch.randn(32, 2, dtype=torch.double)

    def solver(seed):
        torch.manual_seed(seed)
        return BCD(LiftedProblem(MLP([4, 16, 16, 2], "relu").double()), **copy.deepcopy(kwargs))

    first = solver(0)
    for _ in range(3):
        first.step_batch(x, y)
    saved = copy.deepcopy((first.network.state_dict(), first.state_dict()))
    stats = [bool(first.step_batch(x, y)) for _ in range(3)]
    resumed = solver(1)
    resumed.network.load_state_dict(saved[0])
    resumed.load_state_dict(saved[1])
    assert [bool(resumed.step_batch(x, y)) for _ in range(3)] == stats  # monitored on the same steps
    for a, b in zip(first.network.parameters(), resumed.network.parameters()):
        assert torch.equal(a, b)


def test_fit_continued_from_its_history_draws_what_one_run_draws():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 4, generator=gen), torch.randn(64, 2, generator=gen)

    def run(split: bool):
        torch.manual_seed(0)
        solver, seen = Backprop(MLP([4, 8, 2], "relu"), lr=1e-2), []

        def noisy(xb, yb, g):  # the batch transform draws from fit's generator too
            seen.append(float(torch.rand((), generator=g)))
            return xb, yb

        kw = dict(batch_size=32, progress=False, seed=3, eval_train=False, batch_transform=noisy)
        history = fit(solver, x, y, epochs=1 if split else 3, **kw)
        if split:
            fit(solver, x, y, epochs=3, history=history, **kw)
        return seen, [p.detach().clone() for p in solver.network.parameters()]

    (seen_one, once), (seen_two, resumed) = run(False), run(True)
    assert seen_two == seen_one and len(set(seen_one)) == 6
    assert all(torch.equal(a, b) for a, b in zip(once, resumed))


def test_kept_auxiliaries_without_their_memory_are_refused():
    x, y = _teacher_data(16)
    solver = BCD(LiftedProblem(MLP([8, 16, 16, 2])), aux=KeptAux())
    with pytest.raises(ValueError, match=r"aux='keep'.*prepare\(n_samples\)"):
        solver.step_batch(x, y, torch.arange(16))
    solver.prepare(16)
    with pytest.raises(ValueError, match=r"indices"):
        solver.step_batch(x, y)
    solver.step_batch(x, y, torch.arange(16))


@pytest.mark.parametrize("schedule", ["cosine"])
def test_a_learning_rate_schedule_needs_a_learning_rate(schedule):
    x, y = _teacher_data(16)
    with pytest.raises(ValueError, match=r"lr_schedule='cosine'.*ProxGrad.*weights=Adam"):
        fit(BCD(LiftedProblem(MLP([8, 16, 2]))), x, y, epochs=1, batch_size=8, progress=False, lr_schedule=schedule)


NAN = float("nan")


@pytest.mark.parametrize("make, match", [
    (lambda: LiftedProblem(MLP([4, 8, 2]), lam=NAN), r"lam must be positive and finite"),
    (lambda: LiftedProblem(MLP([4, 8, 2]), lam=float("inf")), r"lam must be positive and finite"),
    (lambda: Adam(lr=NAN), r"lr, eps and weight_decay must be finite"),
    (lambda: ProxGrad(weight_decay=NAN), r"weight_decay must be a finite number"),
    (lambda: ProxGrad(momentum="heavy-ball", beta=NAN), r"beta must lie in \[0, 1\)"),
    (lambda: ProxGrad(momentum="nesterov", beta=1.0), r"beta must lie in \[0, 1\)"),
    (lambda: PenaltySchedule(growth=NAN), r"penalty growth must be a finite number >= 1"),
    (lambda: ISGM(LiftedProblem(MLP([4, 8, 2])), tau=NAN), r"tau must be positive and finite"),
    (lambda: ISGM(LiftedProblem(MLP([4, 8, 2])), tau=float("inf")), r"tau must be positive and finite"),
], ids=["lam-nan", "lam-inf", "adam-lr-nan", "weight-decay-nan", "beta-nan", "beta-1", "growth-nan", "tau-nan",
        "tau-inf"])
def test_non_finite_hyperparameters_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_isgm_monitors_every_monitor_every_batches():
    """ISGM takes inner_iters steps per batch; monitoring counted those, so with 2 inner iterations
    and an even monitor_every it never fell on a batch's last one (every record NaN)."""
    x, y = _teacher_data()
    solver = ISGM(LiftedProblem(MLP([8, 16, 2])), inner_iters=2, monitor_every=2)
    seen = [bool(solver.step_batch(x[:16], y[:16])) for _ in range(6)]
    assert seen == [True, False, True, False, True, False]


def test_the_default_sweep_trains_every_layer_and_an_order_that_cannot_warns():
    """From the forward pass only the loss layer's residual is nonzero: the default backward sweep
    carries it to every layer in one step; one even-odd sweep reaches the last layers only, and
    the solver says which layers it leaves untrained (their weights do not move at all)."""
    x, y = torch.randn(64, 8), torch.randn(64, 2)

    def moved(**kwargs):
        torch.manual_seed(0)
        solver = BCD(LiftedProblem(MLP([8, 16, 16, 16, 16, 2])), **kwargs)
        before = [copy.deepcopy(solver.network.layer(li).linear.weight) for li in range(1, 6)]
        solver.step_batch(x, y)
        return [not torch.equal(b, solver.network.layer(li).linear.weight) for li, b in enumerate(before, 1)]

    assert all(moved())
    with pytest.warns(UserWarning, match=r"do not reach layers \[1, 2, 3\]: their weight gradient is exactly 0"):
        assert moved(order="even-odd") == [False, False, False, True, True]
    assert LiftedProblem(MLP([8, 16, 16, 16, 16, 2])).unreached_layers("even-odd", 3) == []


def test_fit_and_the_solvers_name_bad_data_and_budgets():
    net = MLP([10, 8, 1])
    x, y = torch.randn(64, 10), torch.randn(64, 1)
    solver = BCD(LiftedProblem(net))
    for kwargs, match in ((dict(time_budget=0), "time_budget: expected a finite number > 0"),
                          (dict(epochs=0), "epochs: expected an integer >= 1"),
                          (dict(epochs=1.5), "epochs: expected an integer >= 1"),
                          (dict(epochs=1, batch_size=2.5), "batch_size: expected an integer >= 1"),
                          (dict(epochs=1, x_test=x), "give both x_test and y_test")):
        with pytest.raises(ValueError, match=match):
            fit(solver, x, y, progress=False, **kwargs)
    with pytest.raises(ValueError, match="x_train has no samples"):  # it used to loop forever on a time budget
        fit(solver, x[:0], y[:0], time_budget=1, progress=False)
    with pytest.raises(TypeError, match=r"x_train is torch.int64; the network computes in torch.float32"):
        fit(solver, x.long(), y, epochs=1, progress=False)
    with pytest.raises(TypeError, match="fit trains with a solver"):
        fit(net, x, y, epochs=1, progress=False)
    with pytest.raises(TypeError, match=r"BCD trains a LiftedProblem, got MLP: BCD\(LiftedProblem\(net\)"):
        BCD(net)
    with pytest.raises(ValueError, match="input x0 is torch.float64 but the network is torch.float32"):
        solver.step_batch(x.double(), y)
    history = fit(solver, x.double(), y.double(), epochs=1, progress=False)  # fit converts floating data once
    assert history.final["epoch"] == 1 and math.isfinite(history.final["train_loss"])


def test_targets_outside_the_output_activations_range_are_refused():
    """The loss is infinite there: softmax rows off the simplex, sigmoid targets above 1."""
    x = torch.randn(32, 10)
    for last, bad in (("softmax", torch.rand(32, 3)), ("sigmoid", 1.5 * torch.rand(32, 3) + 0.01)):
        solver = BCD(LiftedProblem(MLP([10, 8, 3], last_activation=last)))
        with pytest.raises(ValueError, match="target y has values outside the range of the output activation"):
            solver.step_batch(x, bad)
    good = torch.softmax(torch.randn(32, 3), 1)
    assert math.isfinite(BCD(LiftedProblem(MLP([10, 8, 3], last_activation="softmax"))).step_batch(x, good)["loss"])


def test_a_hidden_softmax_is_refused_at_construction_where_a_prox_step_would_need_its_prox():
    net = MLP([6, 5, 5, 2], activation="softmax")
    with pytest.raises(ValueError, match=r"hidden layers \[1, 2\] use Softmax\(dim=1\), which has no prox"):
        BCD(LiftedProblem(net))
    solver = BCD(LiftedProblem(net), weights="adam", gradient="matched")  # mirror steps need no prox
    assert math.isfinite(solver.step_batch(torch.randn(8, 6), torch.randn(8, 2))["loss"])
