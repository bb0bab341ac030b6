"""What the CPU convolution kernels and the malloc setting do to one DFB-PNN training step.

For the denoising benchmark's network (K = 10, F = 32, 40x40 patches, batch 32, 1 thread) it
times a lifted BCD step and a backprop step with

* ``torch``: ``conv2d`` / ``conv_transpose2d`` for D and D* (oneDNN on the CPU), and
* ``same_conv``: :mod:`liftinv.models.same_conv` (what the models use),

interleaved in one process (6 rounds of 3 steps each, medians), and the two kernels alone, once with glibc's default
malloc and once after :func:`liftinv.tune_cpu_allocator` (each in a fresh process: the
setting cannot be undone).  Writes ``step_kernels.{json,md}``.

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/step_kernels.py --out benchmarks/results/step_kernels``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def measure(rounds: int = 6, steps: int = 3) -> dict:
    """Median seconds per step for every (kernels, trainer) pair, in this process."""
    import torch
    import torch.nn.functional as F

    from liftinv.denoising.models import default_arch
    from liftinv.models import dfb
    from liftinv.restoration import TrainConfig, build_network, make_solver

    torch.set_num_threads(1)
    arch = default_arch("dfb", 1)
    kernels = {
        "same_conv": (dfb.AnalysisOperator.D, dfb.AnalysisOperator.Dt),
        "torch": (lambda op, x: F.conv2d(x, op.weight, padding=op.weight.shape[-1] // 2),
                  lambda op, u: F.conv_transpose2d(u, op.weight, padding=op.weight.shape[-1] // 2)),
    }
    gen = torch.Generator().manual_seed(0)
    clean = torch.rand(32, 1, 40, 40, generator=gen)
    noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=gen)
    solvers = {}
    for name in kernels:
        for trainer in ("lifted", "backprop"):
            solvers[(name, trainer)] = make_solver(build_network(arch, device="cpu", seed=0),
                                                   TrainConfig(trainer=trainer, epochs=1))
    times = {key: [] for key in solvers}
    try:
        for _ in range(rounds):
            for (name, trainer), solver in solvers.items():
                dfb.AnalysisOperator.D, dfb.AnalysisOperator.Dt = kernels[name]
                solver.step_batch(noisy, clean)  # warm-up after the switch
                t0 = time.perf_counter()
                for _ in range(steps):
                    solver.step_batch(noisy, clean)
                times[(name, trainer)].append((time.perf_counter() - t0) / steps)
    finally:
        dfb.AnalysisOperator.D, dfb.AnalysisOperator.Dt = kernels["same_conv"]
    return {f"{name}/{trainer}": sorted(v)[len(v) // 2] for (name, trainer), v in times.items()}


def kernel_times(repeats: int = 20) -> dict:
    """Median milliseconds of D and D* alone (batch 32, 32 <-> 1 channels, 40x40, 3x3, forward only)."""
    import torch
    import torch.nn.functional as F

    from liftinv.models.same_conv import same_conv, same_conv_adjoint

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(32, 1, 3, 3, generator=gen)
    x, u = torch.randn(32, 1, 40, 40, generator=gen), torch.randn(32, 32, 40, 40, generator=gen)
    cases = {"conv2d (D)": lambda: F.conv2d(x, w, padding=1),
             "conv_transpose2d (D*)": lambda: F.conv_transpose2d(u, w, padding=1),
             "same_conv (D)": lambda: same_conv(x, w),
             "same_conv_adjoint (D*)": lambda: same_conv_adjoint(u, w),
             "subtraction of two D outputs": lambda: u - u}
    out = {}
    for name, fn in cases.items():
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[name] = 1e3 * sorted(times)[repeats // 2]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", "--out", default="results/step_kernels")
    parser.add_argument("--worker", choices=("default", "tuned"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        if args.worker == "tuned":
            from liftinv import tune_cpu_allocator

            assert tune_cpu_allocator(), "glibc's mallopt is not available here"
        print(json.dumps({"kernels_ms": kernel_times(), **measure()}))
        return
    report = {"command": "python3 benchmarks/step_kernels.py " + " ".join(argv or sys.argv[1:]), "malloc": {}}
    for malloc in ("default", "tuned"):
        env = dict(os.environ, LIFTINV_MALLOC="default" if malloc == "default" else "")
        out = subprocess.run([sys.executable, __file__, "--worker", malloc], env=env, check=True,
                             capture_output=True, text=True).stdout
        report["malloc"][malloc] = json.loads(out.strip().splitlines()[-1])
    lines = [f"Command: `{report['command']}`", "",
             "DFB-PNN K = 10, F = 32, batch 32 of 40x40 patches, 1 torch thread; median seconds per step.", "",
             "| malloc | D, D* kernels | lifted (s) | backprop (s) | lifted / backprop |", "|---|---|---|---|---|"]
    for malloc, rec in report["malloc"].items():
        for name in ("torch", "same_conv"):
            lif, bp = rec[f"{name}/lifted"], rec[f"{name}/backprop"]
            lines.append(f"| {malloc} | {name} | {lif:.3f} | {bp:.3f} | {lif / bp:.2f} |")
    lines += ["", "The kernels alone (batch 32, 32 <-> 1 channels, 40x40, 3x3 kernel; median ms of 20 calls):", "",
              "| kernel | default malloc | tuned malloc |", "|---|---|---|"]
    for name in report["malloc"]["default"]["kernels_ms"]:
        lines.append(f"| {name} | {report['malloc']['default']['kernels_ms'][name]:.2f} | "
                     f"{report['malloc']['tuned']['kernels_ms'][name]:.2f} |")
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "step_kernels.json").write_text(json.dumps(report, indent=2))
    (out_dir / "step_kernels.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
