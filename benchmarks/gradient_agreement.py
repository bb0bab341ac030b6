"""How close the lifted trainer's weight gradient is to back-propagation's, per parameter (issue 14).

For each network (a shipped denoiser, trained for thousands of steps; the same architecture
freshly initialised; the DFB-PNN of ``trainer_parity.py``, initialised) and a few batches of
training patches at its noise level, compare with the exact gradient of the training loss
(autograd in float64):

* ``lifted``: the weight gradient one step of the lifted trainer would apply (the default of
  ``liftinv train``: matched sweep, small mirror auxiliary steps), in float32 as trained;
* ``lifted-prox``: the same with proximal auxiliary steps of ``1/L_m`` (``aux_step='prox'``, the
  default before 2026-12-07);
* ``lifted-f64``: the default lifted gradient computed in float64 (the float32 round-off of the
  first, separated from the method's own approximation);
* ``autograd-f32``: back-propagation in float32 (what the backprop trainer applies).

Reported per parameter tensor with more than one entry: the cosine with the exact gradient and
the norm ratio, averaged over the batches.  The weight steps are not taken (the lifted trainer's
update is replaced by a recorder), so every batch sees the same network.  Usage::

    OMP_NUM_THREADS=1 python3 benchmarks/gradient_agreement.py --out benchmarks/results/gradient_agreement

(``--checkpoint PATH SIGMA`` adds a network saved by ``liftinv train``; the shipped denoisers
were trained by the lifted trainer.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from liftinv.data import load_embedded
from liftinv.denoising.models import default_arch
from liftinv.denoising.task import describe
from liftinv.restoration import TrainConfig, build_network, make_physics, make_solver, training_patches
from liftinv.restoration.registry import load_network

VARIANTS = ("lifted", "lifted-prox", "lifted-f64", "autograd-f32")
BATCH = TrainConfig.with_defaults({}, trainer="lifted", epochs=1).batch_size  # liftinv train's batch


def exact_gradient(net, noisy, clean, dtype) -> dict[str, torch.Tensor]:
    """Autograd's gradient of the batch mean of 1/2 |N(noisy) - clean|^2, in ``dtype``."""
    net = net.to(dtype)
    net.zero_grad(set_to_none=True)
    loss = 0.5 * (net(noisy.to(dtype)) - clean.to(dtype)).flatten(1).pow(2).sum(1).mean()
    loss.backward()
    out = {n: p.grad.detach().double().clone() for n, p in net.named_parameters() if p.grad is not None}
    net.zero_grad(set_to_none=True)
    return out


def lifted_gradient(net, noisy, clean, dtype, **options) -> dict[str, torch.Tensor]:
    """The weight gradient of one lifted step (``liftinv train``'s trainer), not applied."""
    net = net.to(dtype)
    solver = make_solver(net, TrainConfig.with_defaults({}, trainer="lifted", epochs=1, seed=0), **options)
    got = []
    solver._update_weights = lambda grads, states, anchor, n: got.append([g.detach().double().clone() for g in grads])
    solver.step_batch(noisy.to(dtype), clean.to(dtype))
    names = {id(p): n for n, p in net.named_parameters()}
    params = [p for g in solver.param_groups for p in g["params"]]
    return {names[id(p)]: g for p, g in zip(params, got[0])}


def compare(make_net, sigma: float, batches: int, seed: int = 5) -> dict:
    """Mean cosine and norm ratio against the float64 autograd gradient, per parameter and variant."""
    physics = make_physics(describe(sigma / 255.0))
    cfg = TrainConfig.with_defaults({}, trainer="lifted", epochs=1, seed=0)
    patches = training_patches(load_embedded("train"), cfg)
    gen = torch.Generator().manual_seed(seed)
    sums: dict = {}
    for b in range(batches):
        clean = patches[torch.randint(0, patches.shape[0], (BATCH,), generator=gen)]
        noisy = physics(clean, seed=1000 + b)
        ref = exact_gradient(make_net(), noisy, clean, torch.float64)
        got = {"lifted": lifted_gradient(make_net(), noisy, clean, torch.float32),
               "lifted-prox": lifted_gradient(make_net(), noisy, clean, torch.float32, aux_step="prox"),
               "lifted-f64": lifted_gradient(make_net(), noisy, clean, torch.float64),
               "autograd-f32": exact_gradient(make_net(), noisy, clean, torch.float32)}
        for variant, grads in got.items():
            for name, g in grads.items():
                r = ref[name]
                if r.numel() < 2 or float(r.norm()) == 0.0:
                    continue
                cos = float(torch.nn.functional.cosine_similarity(g.flatten(), r.flatten(), dim=0))
                acc = sums.setdefault(variant, {}).setdefault(name, [0.0, 0.0])
                acc[0] += cos / batches
                acc[1] += float(g.norm() / r.norm()) / batches
    return {v: {n: {"cosine": c, "norm_ratio": q} for n, (c, q) in per.items()} for v, per in sums.items()}


def markdown(report: dict) -> str:
    lines = ["# Lifted weight gradient against back-propagation's (float64 autograd)", "",
             f"`{report['command']}`", ""]
    for case in report["cases"]:
        res = case["result"]
        names = list(res["lifted"])
        lines += [f"## {case['label']} (sigma {case['sigma']:g}, {case['batches']} batches of {case['batch']})", "",
                  "cosine (norm ratio) per parameter tensor, in network order", "",
                  "| variant | " + " | ".join(n.replace(".linear", "").replace(".weight", ".w") for n in names) + " |",
                  "|---" * (len(names) + 1) + "|"]
        for v in VARIANTS:
            cells = [f"{res[v][n]['cosine']:.4f} ({res[v][n]['norm_ratio']:.2f})" for n in names]
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--out", "--output", default="benchmarks/results/gradient_agreement")
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--sigmas", type=float, nargs="*", default=[15.0, 50.0],
                   help="shipped grayscale ScCP-PNNs to load (liftinv/weights/sccp_gray_s<sigma>.pt)")
    p.add_argument("--checkpoint", nargs=2, action="append", default=[], metavar=("PATH", "SIGMA"),
                   help="also a network saved by `liftinv train` (repeatable), at its noise level")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    weights = Path(__file__).resolve().parents[1] / "liftinv" / "weights"
    jobs = []  # (label, sigma, the network's constructor)
    for sigma in args.sigmas:
        path = weights / f"sccp_gray_s{sigma:g}.pt"
        arch = load_network(path, device="cpu")[1]["arch"]
        jobs += [(f"shipped {path.name}", sigma, lambda path=path: load_network(path, device="cpu")[0]),
                 ("the same architecture, initialised", sigma,
                  lambda arch=arch: build_network(arch, device="cpu", seed=0)),
                 # the network of the training-parity benchmark (benchmarks/trainer_parity.py)
                 ("DFB-PNN (K=10, F=32), initialised", sigma,
                  lambda: build_network(default_arch("dfb", 1, 40), device="cpu", seed=0))]
    for path, sigma in args.checkpoint:
        jobs.append((f"checkpoint {Path(path).name}", float(sigma), lambda path=path: load_network(path, "cpu")[0]))
    cases = []
    for label, sigma, make in jobs:
        cases.append({"label": label, "sigma": sigma, "batches": args.batches, "batch": BATCH,
                      "result": compare(make, sigma, args.batches)})
        print(label, {v: round(min(r["cosine"] for r in res.values()), 4) for v, res in cases[-1]["result"].items()},
              flush=True)
    command = " ".join(["OMP_NUM_THREADS=1 python3 benchmarks/gradient_agreement.py", *(argv or sys.argv[1:])])
    report = {"command": command,
              "args": vars(args), "cases": cases}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gradient_agreement.json").write_text(json.dumps(report, indent=1))
    (out / "gradient_agreement.md").write_text(markdown(report))
    return report


if __name__ == "__main__":
    main()
