"""benchmarks/invert_deep_mlp.py: its networks are the stated stacks (invertible: orthogonal weights),
every method sees the same problem, and a tiny run writes one row per method."""

from __future__ import annotations

import json

import torch
from torch import nn


def test_deep_network_is_the_stated_orthogonal_stack(load_script):
    study = load_script("benchmarks/invert_deep_mlp.py")
    net = study.deep_network(3, "sigmoid", seed=0)
    lins = [m for m in net if isinstance(m, nn.Linear)]
    assert len(lins) == 3 and all(isinstance(m, nn.Sigmoid) for m in net[1::2])
    for lin in lins:  # gain 4: W W^T = 16 I, biases 0
        torch.testing.assert_close(lin.weight @ lin.weight.T, 16 * torch.eye(study.WIDTH), atol=1e-4, rtol=0)
        assert float(lin.bias.abs().max()) == 0.0
    assert not any(q.requires_grad for q in net.parameters())


def test_tiny_study_writes_json_and_table(load_script, tmp_path):
    study = load_script("benchmarks/invert_deep_mlp.py")
    argv = ["--depths", "2", "--activations", "tanh", "--iters", "20", "--samples", "2", "--seeds", "0",
            "--out", str(tmp_path)]
    assert study.main(argv) == 0
    rows = json.loads((tmp_path / "invert_deep_mlp.json").read_text())["rows"]
    assert [r["method"] for r in rows] == [m["label"] for m in study.METHODS]
    # every method improves on the start (mid-grey) and L-BFGS nearly inverts a 2-layer tanh net
    x = torch.rand(2, study.WIDTH, generator=torch.Generator().manual_seed(1))
    grey = float((torch.full_like(x, 0.5) - x).norm() / x.norm())
    assert all(r["error"] < grey for r in rows), (grey, rows)
    assert next(r for r in rows if r["method"] == "L-BFGS")["misfit"] < 1e-2
    table = (tmp_path / "invert_deep_mlp.md").read_text()
    assert "| tanh | 2 |" in table
