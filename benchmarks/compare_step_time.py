"""Step time of the DFB-PNN trainers with two versions of the code, timed interleaved.

Runs ``--rounds`` rounds; in each, one fresh process with the code of ``--old-tree`` (a checkout,
e.g. ``git worktree add /tmp/wt_old COMMIT``) and one with this checkout time the median of 15
lifted BCD steps and 15 backprop steps (after 3 warm-up steps) of the denoising benchmark's
DFB-PNN (K = 10, F = 32, batch 32 of 40x40 patches, sigma 25/255), 1 torch thread.  Interleaving
spreads the load of a shared machine over both versions.  Prints one JSON line per process.

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/compare_step_time.py --old-tree /tmp/wt_old --rounds 3``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

WORKER = r'''
import json, time
import torch
torch.set_num_threads(1)
from liftinv.utils.allocator import tune_cpu_allocator
tune_cpu_allocator()
from liftinv.denoising.models import default_arch
arch = default_arch("dfb", 1, 40, 10, 32)
gen = torch.Generator().manual_seed(0)
clean = torch.rand(32, 1, 40, 40, generator=gen)
noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=gen)
out = {}
for trainer in ("lifted", "backprop"):
    try:  # the code after the redesign
        from liftinv.restoration import TrainConfig, build_network, make_solver
        solver = make_solver(build_network(arch, device="cpu", seed=0), TrainConfig(trainer=trainer, epochs=1))
    except ImportError:  # the code before it
        from liftinv.denoising.models import build_denoiser
        from liftinv.denoising.training import make_solver
        torch.manual_seed(0)
        solver = make_solver(trainer, build_denoiser(arch))
    for _ in range(3):
        solver.step_batch(noisy, clean)
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        solver.step_batch(noisy, clean)
        times.append(time.perf_counter() - t0)
    out[trainer] = sorted(times)[len(times) // 2]
print(json.dumps(out))
'''


def time_tree(tree: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", WORKER], cwd=tree, env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-tree", required=True, help="a checkout of the code to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    for r in range(args.rounds):
        for name, tree in (("old", Path(args.old_tree).resolve()), ("new", here)):
            print(json.dumps({"round": r + 1, "code": name, **time_tree(tree)}), flush=True)


if __name__ == "__main__":
    main()
