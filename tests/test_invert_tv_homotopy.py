"""benchmarks/invert_tv_homotopy.py: its step decays the TV weight to the target and stays there,
a start of 1 is the default solver, and a tiny run writes its table."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from liftinv.inversion import LiftedInversion, from_module


def _problem():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 4, stride=2, padding=1), nn.ReLU())
    net = from_module(seq, (1, 8, 8))
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        y = net(x)
    return net, x, y


def test_homotopy_weight_decays_to_the_target_and_start_one_is_the_default(load_script):
    study = load_script("benchmarks/invert_tv_homotopy.py")
    net, x, y = _problem()
    seen = []

    class Spy(study.HomotopyStep):
        def __call__(self, z, xs, yy):
            seen.append(self.alpha)
            return super().__call__(z, xs, yy)

    solver = study.HomotopyInversion(net, "tv", 0.01, start=10.0, decay=0.5, tol=0.0)
    solver.step_class = lambda *a, **k: Spy(*a, start=10.0, decay=0.5, **k)
    solver.run(y, 8)
    assert seen[:5] == pytest.approx([0.1, 0.05, 0.025, 0.0125, 0.01]) and seen[5:] == pytest.approx([0.01] * 3)
    plain = LiftedInversion(net, "tv", 0.01, tol=0.0).run(y, 30)
    same = study.HomotopyInversion(net, "tv", 0.01, start=1.0, tol=0.0).run(y, 30)
    torch.testing.assert_close(same.x, plain.x, rtol=0, atol=0)


def test_tiny_study_writes_json_and_table(load_script, tmp_path):
    study = load_script("benchmarks/invert_tv_homotopy.py")
    assert study.main(["--iters", "10", "--crops", "2", "--torch-steps", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "invert_tv_homotopy.json").read_text())
    assert len(data["best"]) == 4 * len(study.METHODS)
    table = (tmp_path / "invert_tv_homotopy.md").read_text().splitlines()
    header = next(line for line in table if line.startswith("| code noise"))
    rows = [line for line in table if line.startswith("| 0")]
    assert len(rows) == 4 * len(study.METHODS) and all(r.count("|") == header.count("|") for r in rows)
