"""benchmarks/invert_multipliers.py: its multiplier step drives the violation down at a fixed lam,
changes nothing when off, and a tiny run writes its tables."""

from __future__ import annotations

import json

import torch
from torch import nn

from liftinv.inversion import LiftedInversion, from_module


def _noisy_problem():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 4, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(4, 2, 3, padding=1), nn.ReLU())
    net = from_module(seq, (1, 8, 8))
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        y = (net(x) + 0.1 * torch.randn(3, 2, 4, 4)).clamp_min(0.0)
    return net, x, y


def test_multipliers_off_is_the_default_solver_and_on_they_cut_the_violation(load_script):
    study = load_script("benchmarks/invert_multipliers.py")
    net, x, y = _noisy_problem()
    kw = dict(lam=1.0, tol=0.0)
    plain = LiftedInversion(net, "tv", 0.01, **kw).run(y, 200, x_true=x, monitor_every=50)
    off = study.MultiplierInversion(net, "tv", 0.01, every=0, **kw).run(y, 200, x_true=x, monitor_every=50)
    torch.testing.assert_close(off.x, plain.x, rtol=0, atol=0)
    on = study.MultiplierInversion(net, "tv", 0.01, every=10, **kw).run(y, 200, x_true=x, monitor_every=50)
    assert on.final["violation"] < 0.1 * plain.final["violation"]


def test_tiny_study_writes_json_and_tables(load_script, tmp_path):
    study = load_script("benchmarks/invert_multipliers.py")
    assert study.main(["--iters", "20", "--crops", "2", "--torch-steps", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "invert_multipliers.json").read_text())
    assert len(data["best"]) == len(study.LEVELS) * len(study.METHODS)
    assert {r["start"] for r in data["part2"]} == {"half", "L-BFGS", "-"}
    assert all(r["nested"] == r["nested"] and r["nested"] >= 0 for r in data["part2"])  # finite, no NaN
    table = (tmp_path / "invert_multipliers.md").read_text().splitlines()
    for header in (line for line in table if line.startswith("| code noise") or line.startswith("| method")):
        assert table[table.index(header) + 1].count("|") == header.count("|")
