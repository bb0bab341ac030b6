"""The stopping rules of lifted inversion (the objective's plateau, small steps), per sample: a sample
that stops is frozen, and its estimate does not depend on the others in its batch."""

from __future__ import annotations

import pytest
import torch
from test_inversion import _injective_mlp, _positive_conv_net
from torch import nn

from liftinv.inversion import LiftedInversion, from_module, from_sequential, invert_lifted


@pytest.mark.parametrize("method, regulariser, alpha", [("apg", "none", 0.0), ("apg", "tv", 0.01), ("bcd", "tv", 0.01)])
def test_each_sample_is_its_own_problem(method, regulariser, alpha):
    """A sample's estimate does not depend on the others in its batch: the step scales, their
    backtracking, the momentum and restarts of 'apg', the TV prox's warm start and the stopping
    rule are per sample (float64, where the batched products round alike: equal to 1e-12).  An
    easy sample (nearly constant, it converges early) and hard ones share the batch."""
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    net = from_module(seq.double().eval(), (1, 12, 12))
    x = torch.rand(3, 1, 12, 12, dtype=torch.float64)
    x[2] = 0.3 + 0.01 * x[2]
    with torch.no_grad():
        y = net(x)
    kw = dict(regulariser=regulariser, alpha=alpha, iters=300, method=method, tol=1e-3)
    both = invert_lifted(net, y, **kw)
    assert both.settings["iterations"] < 300 or regulariser == "tv"  # the stopping rule ended it
    for i in range(3):
        alone = invert_lifted(net, y[i:i + 1], **kw)
        torch.testing.assert_close(both.x[i:i + 1], alone.x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["apg", "bcd"])
def test_plateau_rule_stops_once_the_objective_has_stopped_falling(method):
    """With TV the relative-change rule seldom fires (the inexact TV prox keeps the iterates moving);
    the plateau rule ends the run once the lifted objective fell by less than ``plateau`` of itself
    over the last PLATEAU_WINDOW iterations, near the objective of a run three times as long."""
    from liftinv.inversion.lifted import PLATEAU_CHECK, PLATEAU_WINDOW

    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    net = from_module(seq.eval(), (1, 12, 12))
    with torch.no_grad():
        y = net(torch.rand(3, 1, 12, 12))
    kw = dict(regulariser="tv", alpha=0.01, method=method, tol=0.0, monitor_every=1000)
    stopped = invert_lifted(net, y, iters=3000, **kw)
    k = stopped.settings["iterations"]
    assert PLATEAU_WINDOW < k < 3000 and k % PLATEAU_CHECK == 0 and stopped.settings["plateau"] == 1e-4
    full = invert_lifted(net, y, iters=3 * k, plateau=0.0, **kw)
    assert full.settings["iterations"] == 3 * k  # both rules off: every iteration runs
    e_stop, e_full = stopped.final["objective"], full.final["objective"]
    assert e_full <= e_stop <= 1.02 * e_full
    with pytest.raises(ValueError, match="plateau must be >= 0"):
        LiftedInversion(net, plateau=-1.0)


def test_apg_stopping_rule_stops_early_and_records_the_iteration_count():
    net = from_sequential(_injective_mlp(16, 32), (16,))
    y = net(torch.rand(2, 16)).detach()
    res = invert_lifted(net, y, regulariser="tikhonov", alpha=0.01, iters=5000, lam_growth=1.0, tol=1e-3)
    assert res.settings["iterations"] < 5000
    assert res.history[-1]["iteration"] == res.settings["iterations"]


def test_bcd_stops_only_when_every_block_has_settled():
    net = _positive_conv_net()
    with torch.no_grad():
        y = net(3 * torch.ones(1, 1, 8, 8))  # its pre-image lies outside the box
    stopped = LiftedInversion(net, "box", 1.0, method="bcd", tol=1e-5, plateau=0.0).run(y, 3000, monitor_every=1000)
    k = stopped.settings["iterations"]
    assert k < 3000
    one_more = LiftedInversion(net, "box", 1.0, method="bcd", tol=0, plateau=0.0).run(y, k + 1, monitor_every=1000)
    for after, at_stop in zip(one_more.states, stopped.states):  # no block moves by more than tol
        assert float((after - at_stop).norm()) <= 1e-5 * float(at_stop.norm()) * 1.5
