"""Solvers: every variant trains, runs are reproducible, CPU and CUDA share one path."""

import copy

import pytest
import torch

from liftinv.lifting import LiftedProblem
from liftinv.models import MLP
from liftinv.solvers import BCD, ISGM, Backprop, accuracy, fit


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
    "bcd-nesterov": lambda p: BCD(p, momentum="nesterov", beta=0.5),
    "bcd-heavy-ball": lambda p: BCD(p, momentum="heavy-ball", beta=0.5),
    "bcd-adam": lambda p: BCD(p, weight_update="adam", lr=3e-3),
    "bcd-keep": lambda p: BCD(p, aux="keep"),
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
    for key in ("lifted", "violation", "seconds", "train_loss"):
        assert all(torch.isfinite(torch.tensor(v)) for v in hist.column(key))
    assert all(p.device.type == torch.device(device).type for p in net.parameters())


def test_runs_are_reproducible_from_the_seed():
    x, y = _teacher_data()
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        net = MLP([8, 16, 2])
        hist = fit(BCD(LiftedProblem(net), momentum="nesterov"), x, y, epochs=3, batch_size=64, progress=False, seed=5)
        runs.append((hist.column("train_loss"), [p.detach().clone() for p in net.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_time_budget_and_callback_stop_training():
    x, y = _teacher_data()
    hist = fit(BCD(LiftedProblem(MLP([8, 16, 2]))), x, y, time_budget=0.3, batch_size=16, progress=False)
    assert hist.final["seconds"] >= 0.3 and hist.final["seconds"] < 5
    seen = []
    hist = fit(Backprop(MLP([8, 16, 2])), x, y, epochs=10, progress=False, callback=lambda r: seen.append(r) or len(seen) < 2)
    assert len(hist) == 2 == len(seen)


def test_classifier_with_softmax_cross_entropy_and_test_metrics():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    centers = 3 * torch.randn(3, 5, generator=g)
    labels = torch.randint(0, 3, (300,), generator=g)
    x = centers[labels] + torch.randn(300, 5, generator=g)
    y = torch.nn.functional.one_hot(labels, 3).float()
    net = MLP([5, 16, 3], "relu", "softmax")
    hist = fit(BCD(LiftedProblem(net), weight_update="adam", lr=1e-2), x[:200], y[:200], x_test=x[200:],
               y_test=y[200:], epochs=10, batch_size=50, metrics={"accuracy": accuracy}, progress=False)
    assert hist.final["test_accuracy"] > 0.9
    # the loss is the cross-entropy
    ce = torch.nn.functional.cross_entropy(net.logits(x[200:]), labels[200:]).item()
    assert hist.final["test_loss"] == pytest.approx(ce, rel=1e-5)


def test_optimizer_contract_state_dict_and_step():
    torch.manual_seed(0)
    x, y = _teacher_data(64)
    net = MLP([8, 16, 2])
    solver = BCD(LiftedProblem(net), weight_update="adam")
    assert isinstance(solver, torch.optim.Optimizer) and len(solver.param_groups) == 2
    with pytest.raises(RuntimeError, match="set_batch"):
        solver.step()
    solver.set_batch(x, y)
    solver.step()
    state = copy.deepcopy(solver.state_dict())  # as if saved to disk: no shared buffers
    net2 = MLP([8, 16, 2])
    net2.load_state_dict(net.state_dict())
    solver2 = BCD(LiftedProblem(net2), weight_update="adam")
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
    solver = BCD(LiftedProblem(net), weight_update="adam", lr=1e-2, weight_decay=0.1)
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
    for kwargs in [dict(weight_update="sgd"), dict(momentum="polyak"), dict(aux="disk"),
                   dict(weight_update="adam", momentum="nesterov"), dict(inner_iters=0)]:
        with pytest.raises(ValueError):
            BCD(p, **kwargs)
    with pytest.raises(ValueError, match="tau"):
        ISGM(p, tau=0)
    with pytest.raises(ValueError, match="epochs or time_budget"):
        fit(BCD(p), torch.randn(4, 2), torch.randn(4, 1))


def test_penalty_weight_continuation_grows_caps_and_survives_a_state_dict_round_trip():
    x, y = _teacher_data(64)
    problem = LiftedProblem(MLP([8, 16, 16, 2]))
    solver = BCD(problem, weight_update="adam", lam_growth=2.0, lam_max=20.0)
    for expected in (2.0, 4.0, 8.0, 16.0, 20.0, 20.0):
        solver.step_batch(x, y)
        assert problem.lam == [expected, expected]
    fresh = LiftedProblem(MLP([8, 16, 16, 2]))
    resumed = BCD(fresh, weight_update="adam", lam_growth=2.0, lam_max=20.0)
    resumed.load_state_dict(copy.deepcopy(solver.state_dict()))
    resumed.step_batch(x, y)
    assert fresh.lam == [20.0, 20.0]
    with pytest.raises(ValueError, match="lam_growth"):
        BCD(problem, lam_growth=0.5)
