"""Drift of lifted DFB-PNN training: the weight gradient at the auxiliaries against the forward-anchored one.

Trains the default DFB-PNN (K=10, F=32) at sigma 25/255 with the lifted trainer of ``liftinv train``
(lr 1e-3, batch 32, lam 1, backward sweep) for ``STEPS`` steps, with ``gradient=METHOD`` (``aux``:
the lifted objective's gradient at the auxiliaries; ``forward``: the forward-anchored gradient),
on the training images minus chelsea and coffee, and prints the PSNR on those two held-out
training images every ``EVERY`` steps as one JSON line (settings are chosen without the test
images).  No backprop run: see ``trainer_parity.py`` for the interleaved comparison.

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/gradient_drift.py lifted-aux 3000 250 [SEED [LR]]``
(``lifted-forward`` for the anchored gradient; the committed run in results/gradient_drift/ ran
both at once, each on one core, and was stopped after 2500 steps).
"""

import argparse
import json
import time

import torch

import liftinv.restoration as R
from liftinv.data import embedded_names, load_embedded
from liftinv.denoising.models import default_arch
from liftinv.denoising.task import describe
from liftinv.restoration.arguments import nonneg_int, positive_float, positive_int

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("method", choices=("lifted-aux", "lifted-forward", "backprop"))
parser.add_argument("steps", type=positive_int, help="training steps")
parser.add_argument("every", type=positive_int, help="steps between evaluations")
parser.add_argument("seed", type=nonneg_int, nargs="?", default=0)
parser.add_argument("lr", type=positive_float, nargs="?", default=1e-3)
args = parser.parse_args()
torch.set_num_threads(1)
method, steps, every, seed, lr = args.method, args.steps, args.every, args.seed, args.lr
names, imgs = embedded_names("train"), load_embedded("train")
held = [i for n, i in zip(names, imgs) if n in ("chelsea", "coffee")]
train = [i for n, i in zip(names, imgs) if n not in ("chelsea", "coffee")]
task = describe(25 / 255)
noisy_held = R.degraded_test_set(R.make_physics(task), held)
net = R.build_network(default_arch("dfb", 1, 40, depth=10, features=32), device="cpu", seed=seed)
cfg = R.TrainConfig(trainer="backprop" if method == "backprop" else "lifted", epochs=1, lr=lr, seed=seed)
opts = {} if method == "backprop" else dict(gradient=method.split("-")[1], monitor_every=every)
solver = R.make_solver(net, cfg, **opts)
patches = R.training_patches(train, cfg)
gen, seconds = torch.Generator().manual_seed(seed), 0.0
for k in range(steps):
    clean = patches[torch.randint(0, patches.shape[0], (32,), generator=gen)]
    noisy = clean + task["sigma"] * torch.randn(clean.shape, generator=gen)
    t0 = time.perf_counter()
    stats = solver.step_batch(noisy, clean)
    seconds += time.perf_counter() - t0
    if (k + 1) % every == 0:
        psnr = R.score(R.restore_images(net, noisy_held), held)["psnr_mean"]
        print(json.dumps(dict(method=method, seed=seed, step=k + 1, sec=round(seconds, 1), psnr=round(psnr, 3),
                              **{a: round(b, 4) for a, b in (stats or {}).items()})), flush=True)
