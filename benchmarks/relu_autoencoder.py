"""A ReLU autoencoder trained by lifted BCD (prox or mirror auxiliary steps) and by backprop.

The network is the inversion benchmark's autoencoder (:func:`liftinv.inversion.autoencoder_arch`:
two strided 3x3 convolutions, a 64-unit code and a 256-unit hidden layer, all ReLU, then a dense
layer back to the 16x16 patch), trained to reproduce grid patches of the embedded *training*
images (:func:`liftinv.inversion.train_autoencoder`: Adam lr 2e-3, batch 64) by

* ``lifted-prox``: lifted Bregman BCD, matched sweep, proximal auxiliary steps of ``1/L_m``
  (``aux_step="prox"``, the restoration trainer's step before 2026-12-07);
* ``lifted-mirror``: the same with small mirror steps (today's default, ``step_scale 0.01``), whose
  weight gradient is back-propagation's to first order;
* ``backprop``: Adam through autograd,

each from the same initial weights (``--seeds``) for the same wall-clock budget (``--budget``
training seconds) or number of epochs (``--epochs``). Reported per method, mean (min..max) over
the seeds: the reconstruction loss ``1/2 |N(x) - x|^2`` per patch on all training patches and on
the grid patches of the embedded *test* images, the fraction of hidden ReLU units that are active
(positive) on the test patches, steps and seconds; the JSON also keeps every run's curve
(seconds, mean training loss of the epoch's mini-batches, constraint violation per epoch;
``--lr-schedule cosine`` decays every method's rate to 0 at the budget's end). The question
(issue 14): does a lifted step that lets gradient through inactive ReLU units (the prox step
does, back-propagation and the mirror step do not) train a ReLU network to a lower loss?

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/relu_autoencoder.py --budget 60 --seeds 0 1 2 --out
benchmarks/results/relu_autoencoder``. Outputs ``relu_autoencoder.{json,md}``.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time

import torch

from liftinv import tune_cpu_allocator
from liftinv.data import load_embedded
from liftinv.inversion.autoencoder import autoencoder_arch, reconstruction_scores, train_autoencoder
from liftinv.restoration import TrainConfig
from liftinv.restoration.report import write_report
from liftinv.restoration.training import training_patches
from liftinv.utils.schedules import LR_SCHEDULES

#: method -> (trainer, aux_step) of :func:`train_autoencoder` (``None``: BCD's default, mirror steps)
METHODS = {"lifted-prox": ("lifted", "prox"), "lifted-mirror": ("lifted", None), "backprop": ("backprop", None)}


def run(method: str, seed: int, args, train_images, test_patches) -> dict:
    trainer, aux_step = METHODS[method]
    net, history = train_autoencoder(train_images, autoencoder_arch(16, (8, 16), 64, 256), budget=args.budget,
                                     epochs=args.epochs or None, lr=args.lr, seed=seed, progress=False,
                                     trainer=trainer, aux_step=aux_step, lr_schedule=args.lr_schedule)
    config = TrainConfig(epochs=1, patch=16, max_patches=20000, seed=seed)  # train_autoencoder's patches
    train_loss, _ = reconstruction_scores(net, training_patches(train_images, config))
    test_loss, active = reconstruction_scores(net, test_patches)
    final = history.final
    return {"method": method, "seed": seed, "train_loss": train_loss, "test_loss": test_loss, "active": active,
            "steps": final.get("iterations"), "seconds": final.get("seconds"),
            "curve": [[r["seconds"], r.get("loss"), r.get("violation")] for r in history]}


def summary(rows: list[dict]) -> list[dict]:
    out = []
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        if mine:
            out.append({"method": method, **{k: (statistics.mean(r[k] for r in mine), min(r[k] for r in mine),
                                                 max(r[k] for r in mine))
                                             for k in ("train_loss", "test_loss", "active", "steps", "seconds")}})
    return out


def markdown(rows: list[dict], summ: list[dict], command: str, args) -> str:
    budget = f"{args.epochs} epochs" if args.epochs else f"{args.budget:g} s of training"
    lines = ["# A ReLU autoencoder: lifted prox / mirror steps against backprop", "", f"Command: `{command}`", "",
             f"The inversion benchmark's autoencoder on 16x16 patches, {budget} per method and seed, Adam lr "
             f"{args.lr:g} ({args.lr_schedule}), batch 64, 1 torch thread; seeds {args.seeds}. Loss: 1/2 |N(x) - x|^2 "
             "per patch (mean); active: fraction of hidden ReLU units > 0 on the test patches. Mean (min..max) over "
             "seeds.", "",
             "| method | train loss | test loss | test loss / backprop's | active units | steps | seconds |",
             "|---|---|---|---|---|---|---|"]
    base = next((s["test_loss"][0] for s in summ if s["method"] == "backprop"), None)
    for s in summ:
        rel = f"{s['test_loss'][0] / base:.2f}" if base else ""
        spread = {k: f"{s[k][0]:.4f} ({s[k][1]:.4f}..{s[k][2]:.4f})" for k in ("train_loss", "test_loss")}
        lines.append(f"| {s['method']} | {spread['train_loss']} | {spread['test_loss']} | {rel} | "
                     f"{s['active'][0]:.3f} | {s['steps'][0]:.0f} | {s['seconds'][0]:.0f} |")
    lines += ["", "Per run:", "", "| method | seed | train loss | test loss | active | steps | seconds |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['seed']} | {r['train_loss']:.4f} | {r['test_loss']:.4f} | {r['active']:.3f} | "
              f"{r['steps']} | {r['seconds']:.0f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=60.0, help="training seconds per method and seed")
    p.add_argument("--epochs", type=int, default=0, help="train this many epochs instead of --budget seconds")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--lr-schedule", default="constant", choices=sorted(LR_SCHEDULES),
                   help="the learning rate over the run, for every method (cosine: to 0 at the budget's end; "
                        "default constant, as in the 60-s runs, where train_autoencoder's own default is cosine)")
    p.add_argument("-o", "--out", "--output", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    tune_cpu_allocator()
    command = "OMP_NUM_THREADS=1 python3 benchmarks/relu_autoencoder.py " + shlex.join(argv or sys.argv[1:])
    train_images = load_embedded("train")
    test_patches = training_patches(load_embedded("test"), TrainConfig(epochs=1, patch=16, seed=0))
    rows = []
    for seed in args.seeds:
        for method in args.methods:  # the methods of one seed back to back: they share the machine's load
            t0 = time.perf_counter()
            rows.append(run(method, seed, args, train_images, test_patches))
            r = rows[-1]
            print(f"{method} seed {seed}: train {r['train_loss']:.4f}, test {r['test_loss']:.4f}, active "
                  f"{r['active']:.3f}, {r['steps']} steps ({time.perf_counter() - t0:.0f} s)", flush=True)
    summ = summary(rows)
    if args.out:
        write_report(args.out, "relu_autoencoder", {"command": command, "settings": vars(args), "rows": rows,
                                                    "summary": summ}, markdown(rows, summ, command, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
