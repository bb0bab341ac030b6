"""Learning-rate schedules over a run: the factor curve, every trainer following it, resuming on it."""

import math

import pytest
import torch

from liftinv.denoising.models import default_arch
from liftinv.denoising.task import describe
from liftinv.lifting import LiftedProblem
from liftinv.models import MLP
from liftinv.restoration import TrainConfig, train_network
from liftinv.solvers import BCD, Adam, Backprop, fit
from liftinv.utils.schedules import lr_factor, run_fraction


def test_cosine_falls_from_one_to_zero_monotonically_and_constant_stays():
    ps = torch.linspace(0, 1, 101).tolist()
    cos = [lr_factor("cosine", p) for p in ps]
    assert cos[0] == 1.0 and cos[-1] == pytest.approx(0.0, abs=1e-12) and cos[50] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(cos, cos[1:]))
    assert {lr_factor("constant", p) for p in ps} == {1.0}
    assert lr_factor("cosine", 1.7) == pytest.approx(0.0, abs=1e-12)  # past the end: stays at the end
    with pytest.raises(ValueError, match="lr_schedule.*'cosine'"):
        lr_factor("linear-warmup", 0.3)


def test_run_fraction_is_the_larger_of_the_budget_and_epoch_fractions():
    assert run_fraction(seconds=30, epoch_progress=1, time_budget=60, epochs=None) == 0.5
    assert run_fraction(seconds=30, epoch_progress=1, time_budget=None, epochs=4) == 0.25
    assert run_fraction(seconds=30, epoch_progress=3, time_budget=60, epochs=4) == 0.75
    assert run_fraction(seconds=90, epoch_progress=0, time_budget=60, epochs=None) == 1.0


def _data(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    return x, x[:, :2].sin()


@pytest.mark.parametrize("make", [lambda net: Backprop(net, lr=1e-2),
                                  lambda net: BCD(LiftedProblem(net), weights=Adam(lr=1e-2))],
                         ids=["backprop", "lifted"])
def test_fit_anneals_every_trainers_rate_along_the_cosine_over_the_epochs(make):
    torch.manual_seed(0)
    x, y = _data()
    solver = make(MLP([8, 16, 2]))
    seen = []
    step = solver.step_batch

    def spy(*args):  # the rate each step ran with
        seen.append(solver.param_groups[0]["lr"])
        return step(*args)

    solver.step_batch = spy
    fit(solver, x, y, epochs=2, batch_size=16, progress=False, eval_train=False, lr_schedule="cosine")
    expected = [1e-2 * 0.5 * (1 + math.cos(math.pi * k / 8)) for k in range(8)]  # 8 steps: fraction k/8
    assert seen == pytest.approx(expected)
    assert all(g["initial_lr"] == 1e-2 for g in solver.param_groups)  # the base rate is kept


def test_fit_refuses_an_unknown_schedule_before_any_step():
    x, y = _data(16)
    solver = Backprop(MLP([8, 4, 2]))
    before = [p.detach().clone() for p in solver.network.parameters()]
    with pytest.raises(ValueError, match="lr_schedule"):
        fit(solver, x, y, epochs=1, progress=False, lr_schedule="step")
    assert all(torch.equal(a, b) for a, b in zip(before, solver.network.parameters()))


def test_config_carries_the_schedule_and_a_checkpoint_without_it_resumes(tmp_path):
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(epochs=1, lr_schedule="exponential")
    images = [torch.rand(1, 24, 24, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    arch = default_arch("dfb", 1, 16, depth=2, features=4)
    config = TrainConfig(trainer="backprop", epochs=2, batch_size=8, patch=16, stride=8, lr_schedule="cosine")
    assert "cosine" in config.summary()
    net, _ = train_network(arch, describe(0.1), images, config, checkpoint=tmp_path / "run.pt", progress=False)
    # the checkpoint's optimiser state keeps the base rate; the run resumes on the same curve
    state = torch.load(tmp_path / "run.pt", weights_only=False)
    assert state["config"]["lr_schedule"] == "cosine"
    assert state["solver"]["param_groups"][0]["initial_lr"] == config.lr
    _, hist = train_network(arch, describe(0.1), images, config.replace(epochs=3), checkpoint=tmp_path / "run.pt",
                            resume=True, progress=False)
    assert [r["epoch"] for r in hist] == [1, 2, 3]
    # a checkpoint written before the setting existed ran with the default, so it resumes with it
    old = tmp_path / "old.pt"
    train_network(arch, describe(0.1), images, config.replace(lr_schedule="constant"), checkpoint=old,
                  progress=False)
    state = torch.load(old, weights_only=False)
    del state["config"]["lr_schedule"]
    torch.save(state, old)
    train_network(arch, describe(0.1), images, config.replace(lr_schedule="constant", epochs=3), checkpoint=old,
                  resume=True, progress=False)
    with pytest.raises(ValueError, match="lr_schedule 'cosine' now vs 'constant'"):
        train_network(arch, describe(0.1), images, config.replace(epochs=4), checkpoint=old, resume=True,
                      progress=False)
