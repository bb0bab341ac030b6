"""Learning-rate sensitivity of the trained denoisers at a fixed wall-clock budget.

Trains the denoising benchmark's DFB-PNN (K = 10, F = 32, sigma = 25/255, embedded training
images, batch 32, seed 0) with each ``--trainers`` entry and each ``--lrs`` Adam learning
rate for ``--budget`` training seconds, one run after another in this process, and scores
the embedded test images (the benchmark's noisy test set, seed 2024).  Prints and appends
one JSON line per run to ``--out``.

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/denoise_lr.py --budget 120 --trainers lifted backprop
--lrs 1e-3 2e-3 4e-3 --out benchmarks/results/denoise_lr/runs.jsonl``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def run(trainer: str, lr: float, budget: float, sigma255: float = 25) -> dict:
    import torch

    from liftinv.data import load_embedded
    from liftinv.denoising.models import default_arch
    from liftinv.denoising.task import describe
    from liftinv.restoration import TrainConfig, degraded_test_set, make_physics, restore_images, score, train_network

    task = describe(sigma255 / 255)
    train, test = load_embedded("train"), load_embedded("test")
    noisy, curve = degraded_test_set(make_physics(task), test), []

    def on_epoch(record, network):  # test PSNR after every epoch, outside the timed region
        curve.append((round(record["seconds"], 1), round(score(restore_images(network, noisy), test)["psnr_mean"], 3)))

    net, hist = train_network(default_arch("dfb"), task, train, TrainConfig(trainer=trainer, budget=budget, lr=lr),
                              progress=False, callback=on_epoch)
    psnr = score(restore_images(net, noisy), test)["psnr_mean"]
    return {"trainer": trainer, "lr": lr, "budget": budget, "sigma": sigma255, "psnr": round(psnr, 3),
            "iterations": hist.final.get("iterations"), "curve": curve, "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def main() -> None:
    from liftinv import tune_cpu_allocator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainers", nargs="+", default=["lifted", "backprop"])
    parser.add_argument("--lrs", nargs="+", type=float, default=[1e-3, 2e-3, 4e-3])
    parser.add_argument("--budget", type=float, default=120.0, help="training seconds per run")
    parser.add_argument("-o", "--output", "--out", default="benchmarks/results/denoise_lr/runs.jsonl")
    args = parser.parse_args()
    tune_cpu_allocator()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    for trainer in args.trainers:
        for lr in args.lrs:
            record = run(trainer, lr, args.budget)
            print(json.dumps(record), flush=True)
            with out.open("a") as f:
                f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
