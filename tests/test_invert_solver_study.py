"""benchmarks/invert_solver_study.py: its diagonal metric majorises, and a tiny run writes its tables."""

from __future__ import annotations

import json

import torch
from torch import nn

from liftinv.inversion import from_module


def test_abs_majoriser_majorises_the_gram_operator(load_script):
    """D = |A|^T |A| 1 (Schur's test): <x, D x> >= |A x|^2 for every x, strided maps included."""
    study = load_script("benchmarks/invert_solver_study.py")
    torch.manual_seed(0)
    net = from_module(nn.Sequential(nn.Conv2d(2, 3, 4, stride=2, padding=1), nn.ReLU()), (2, 8, 8))
    (_, amap), = net.sources(1)
    d = study.abs_majoriser(amap, (2, 8, 8))
    assert d.shape == (1, 2, 8, 8) and bool((d > 0).all())
    x = torch.randn(64, 2, 8, 8)
    quad = (d * x * x).flatten(1).sum(1)
    assert bool((quad >= amap.A(x).flatten(1).pow(2).sum(1) * (1 - 1e-5)).all())


def test_tiny_study_writes_json_and_table(load_script, tmp_path):
    study = load_script("benchmarks/invert_solver_study.py")
    assert study.main(["--iters", "20", "--crops", "2", "--torch-steps", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "invert_solver_study.json").read_text())
    assert len(data["runs"]) == 2 * 2 * 5  # levels x TV weights x (apg, apg-diag, L-BFGS-B at 2 lam, L-BFGS)
    assert {r["method"] for r in data["runs"]} == {"apg", "apg-diag", "lbfgsb", "lbfgs"}
    for r in data["runs"]:
        assert r["curve"][-1][0] >= 20 and all(q == q for _, _, q in r["curve"])  # no NaN PSNR
    table = (tmp_path / "invert_solver_study.md").read_text().splitlines()
    header = next(line for line in table if line.startswith("| code noise"))
    assert table[table.index(header) + 1].count("|") == header.count("|")
