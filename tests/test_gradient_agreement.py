"""benchmarks/gradient_agreement.py: the lifted weight gradient of an initialised DFB-PNN is
back-propagation's (the matched sweep's first-order property), and the report is complete."""

from __future__ import annotations

import torch

from liftinv.denoising.models import default_arch
from liftinv.restoration import build_network


def test_lifted_gradient_of_an_initialised_dfb_is_backprops(load_script):
    ga = load_script("benchmarks/gradient_agreement.py")
    arch = default_arch("dfb", 1, 40, depth=3, features=8)
    res = ga.compare(lambda: build_network(arch, device="cpu", seed=0), 25.0, batches=1)
    assert set(res) == set(ga.VARIANTS)
    names = set(res["lifted"])
    assert names and all(set(per) == names for per in res.values())
    for variant in ("lifted", "lifted-f64", "autograd-f32"):  # the default (mirror steps) and its references
        for name, r in res[variant].items():
            assert r["cosine"] > 0.999 and abs(r["norm_ratio"] - 1.0) < 0.02, (variant, name, r)
    table = ga.markdown({"command": "x", "cases": [{"label": "dfb", "sigma": 25.0, "batches": 1, "batch": 32,
                                                    "result": res}]})
    assert table.count("| lifted-prox |") == 1


def test_recorder_takes_no_step(load_script):
    ga = load_script("benchmarks/gradient_agreement.py")
    net = build_network(default_arch("dfb", 1, 40, depth=2, features=4), device="cpu", seed=0)
    before = [p.detach().clone() for p in net.parameters()]
    x = torch.rand(4, 1, 40, 40)
    grads = ga.lifted_gradient(net, x + 0.1 * torch.randn_like(x), x, torch.float32)
    assert grads and all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
