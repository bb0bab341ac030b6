"""Train the denoisers shipped in ``liftinv/weights/`` and score them on the embedded test images.

Each model is the default DFB-PNN (K=10 iterations, F=32 features) trained by the LIFTED trainer
(lifted Bregman BCD, ``trainer='lifted'``) on the embedded *training* images, one torch thread,
fixed seed, for ``--budget`` training seconds.  The file written is weights only (architecture,
task, settings, the final history record; no optimiser state), readable by
:func:`liftinv.restoration.load_network` and :func:`liftinv.pretrained`.  Afterwards the network is
scored on the embedded *test* images (never used for training or tuning) with the project's
evaluation code (:func:`~liftinv.restoration.degraded_test_set`, :func:`~liftinv.restoration.
restore_images`, :func:`~liftinv.restoration.score`), next to TV (weight tuned on the training
images) and BM3D (CBM3D in colour) at the same sigma, and the result is recorded in
``liftinv/weights/manifest.json`` and ``liftinv/weights/README.md`` (command, training seconds,
steps, machine, date, PSNR/SSIM).

    OMP_NUM_THREADS=1 python3 benchmarks/train_pretrained.py --models gray25 --budget 600
    OMP_NUM_THREADS=1 python3 benchmarks/train_pretrained.py --compare-nu 120   # initial threshold nu

``--compare-nu S`` trains a grayscale model (``--compare-model``, default sigma 25) for S seconds with
each initial threshold of ``--nus`` on the training images minus one held out (``--holdout``),
scores it on that held-out
training image and records the comparison in the manifest; the test images are not touched.
"""

from __future__ import annotations

# ruff: noqa: E402  (the thread settings must precede numpy's import)
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # BM3D's numpy too: one thread
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import json
import platform
import shlex
import sys
from pathlib import Path

import torch

from liftinv import __version__, tune_cpu_allocator
from liftinv.checkpoint import save_checkpoint
from liftinv.data import embedded_names, load_embedded
from liftinv.denoising.classical import bm3d_available, bm3d_denoise, tune_tv_weight, tv_denoise
from liftinv.denoising.models import default_arch
from liftinv.denoising.task import describe
from liftinv.pretrained import MODELS, WEIGHTS_DIR
from liftinv.restoration import (
    TrainConfig,
    build_network,
    degraded_test_set,
    make_physics,
    make_solver,
    restore_images,
    score,
    train_network,
)
from liftinv.restoration.registry import load_network
from liftinv.utils.files import write_text_atomic

MANIFEST = "manifest.json"


def _commit() -> str | None:
    """The git commit of the code that trained the model (``None`` outside a checkout)."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def machine() -> dict:
    """CPU model, cores, threads and versions of this run."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "liftinv": __version__, "python": platform.python_version(),
            "device": "cpu"}


#: the initial threshold of each model, chosen on a held-out *training* image (chelsea): at sigma 25
#: by ``--compare-nu 120`` (0.01: 28.93 dB, 0.05: 28.39); at sigma 50 by ``--compare-nu 600``, the
#: full budget (0.01: 26.25 dB, 0.1: 25.59), after a 120-s comparison had preferred 0.1 (25.70
#: against 25.61 for 0.05 and 25.02 for 0.01) and did not carry over; sigma 15 and colour use the
#: sigma-25 choice (not compared)
INITIAL_NU = {"gray15": 0.01, "gray25": 0.01, "gray50": 0.01, "color25": 0.01}


def train(key: str, budget: float, nu: float, seed: int, images, progress: bool):
    """``(network, history, arch, task, config)`` of one model of :data:`MODELS` trained lifted."""
    sigma, color = MODELS[key]["sigma"], MODELS[key]["color"]
    arch = default_arch("dfb", 3 if color else 1)
    arch["nu"] = nu
    task = describe(sigma / 255)
    config = TrainConfig(trainer="lifted", budget=budget, seed=seed, device="cpu")
    net, history = train_network(arch, task, images, config, progress=progress, desc=key)
    return net, history, arch, task, config


def evaluate(net, sigma: float, color: bool) -> dict:
    """PSNR/SSIM of ``net``, TV and (C)BM3D on the embedded test images at ``sigma`` (0-255)."""
    test, train_images = load_embedded("test", color=color), load_embedded("train", color=color)
    task = describe(sigma / 255)
    noisy = degraded_test_set(make_physics(task), test)
    weight, _ = tune_tv_weight(train_images, task["sigma"])
    rows = {"noisy input": score([z.clamp(0, 1) for z in noisy], test),
            "DFB-PNN (lifted, shipped)": score(restore_images(net, noisy), test),
            "TV (tuned on train)": {**score([tv_denoise(z, weight) for z in noisy], test), "weight": weight}}
    if bm3d_available():
        rows["CBM3D" if color else "BM3D"] = score([bm3d_denoise(z, task["sigma"]) for z in noisy], test)
    return {"images": embedded_names("test", color), "methods": rows}


def read_manifest(out: Path) -> dict:
    path = out / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {"models": {}}


def write_manifest(out: Path, manifest: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    write_text_atomic(out / "README.md", readme(manifest))


def readme(manifest: dict) -> str:
    """``liftinv/weights/README.md``: what each file is, how it was made, what it scores."""
    lines = ["# Shipped denoisers", "",
             "Written by `benchmarks/train_pretrained.py` (do not edit by hand: it regenerates this file from",
             "`manifest.json`). Each file is a weights-only liftinv checkpoint (no optimiser state) of the default",
             "DFB-PNN (K=10, F=32) trained by the lifted trainer (lifted Bregman BCD) on the embedded training",
             "images; load it with `liftinv.pretrained(sigma, color=...)` or `liftinv.restoration.load_network`.",
             "Scores: mean PSNR (dB, data range 1) / SSIM on the embedded test images (never used for training",
             "or tuning), noise drawn once with the evaluation seed, TV weight tuned on the training images.", ""]
    for name, m in sorted(manifest["models"].items()):
        mach = m["machine"]
        lines += [f"## {name}", "",
                  f"- {'colour' if m['color'] else 'grayscale'}, sigma {m['sigma']:g}/255, {m['parameters']} "
                  f"parameters, {m['bytes']} bytes, initial threshold nu {m['arch']['nu']:g}",
                  f"- command: `{m['command']}`",
                  f"- trained {m['seconds']:.0f} s ({m['steps']} steps, {m['epochs']} epochs), {m['date']}",
                  f"- machine: {mach['cpu']}, {mach['cores']} cores, {mach['torch_threads']} torch thread(s), "
                  f"torch {mach['torch']}, liftinv {mach['liftinv']}", "",
                  "| method (test images: " + ", ".join(m["evaluation"]["images"]) + ") | PSNR | SSIM |",
                  "|---|---|---|"]
        for method, r in m["evaluation"]["methods"].items():
            lines.append(f"| {method} | {r['psnr_mean']:.2f} | {r['ssim_mean']:.3f} |")
        lines.append("")
    for name in sorted(k for k in manifest if k.startswith("nu_comparison")):
        cmp = manifest[name]
        lines += ["## Initial threshold nu", "", f"Command: `{cmp['command']}`; {cmp['note']}", "",
                  "| nu | steps | PSNR on " + cmp["holdout"] + " |", "|---|---|---|"]
        lines += [f"| {r['nu']:g} | {r['steps']} | {r['psnr']:.2f} |" for r in cmp["runs"]]
        lines.append("")
    return "\n".join(lines)


def compare_nu(args, command: str) -> None:
    """Train the grayscale ``--compare-model`` per ``--nus`` without the held-out training image;
    score on it."""
    key = args.compare_model
    if MODELS[key]["color"]:
        raise SystemExit("--compare-model must be a grayscale model")
    names = embedded_names("train")
    if args.holdout not in names:
        raise SystemExit(f"--holdout must be one of the training images {names}")
    images = load_embedded("train")
    held = [images[names.index(args.holdout)]]
    rest = [img for name, img in zip(names, images) if name != args.holdout]
    sigma = MODELS[key]["sigma"]
    task = describe(sigma / 255)
    noisy = degraded_test_set(make_physics(task), held)
    runs = []
    for nu in args.nus:
        net, history, *_ = train(key, args.compare_nu, nu, args.seed, rest, not args.no_progress)
        psnr = score(restore_images(net, noisy), held)["psnr_mean"]
        runs.append({"nu": nu, "steps": history.final.get("iterations"), "psnr": psnr})
        print(f"nu {nu:g}: {history.final.get('iterations')} steps, PSNR on {args.holdout} {psnr:.2f} dB", flush=True)
    best = max(runs, key=lambda r: r["psnr"])
    manifest = read_manifest(args.output)
    manifest["nu_comparison" if key == "gray25" else f"nu_comparison_{key}"] = {
        "command": command, "holdout": args.holdout, "runs": runs, "best_nu": best["nu"],
        "note": (f"gray sigma {sigma:g}, {args.compare_nu:g} s each, trained on the training images without "
                 f"{args.holdout}, scored on {args.holdout} (the test images are not used); best nu {best['nu']:g}")}
    write_manifest(args.output, manifest)
    print(f"best nu: {best['nu']:g}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    p.add_argument("--budget", type=float, default=600.0, help="training seconds per model (default 600)")
    p.add_argument("--nu", type=float, default=None,
                   help="initial threshold of the DFB-PNN (default: the model's INITIAL_NU, from --compare-nu 120)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, default=WEIGHTS_DIR, help="folder of the weights (liftinv/weights)")
    p.add_argument("--compare-nu", type=float, default=None, metavar="S",
                   help="only compare the initial thresholds --nus, S training seconds each")
    p.add_argument("--nus", type=float, nargs="+", default=[0.05, 0.01])
    p.add_argument("--compare-model", choices=sorted(MODELS), default="gray25",
                   help="the grayscale model whose sigma --compare-nu uses (default gray25)")
    p.add_argument("--holdout", default="chelsea", help="training image held out by --compare-nu")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    tune_cpu_allocator()  # as `liftinv train` does: large tensors reuse their memory between steps
    command = "OMP_NUM_THREADS=1 python3 benchmarks/train_pretrained.py " + shlex.join(argv or sys.argv[1:])
    if args.compare_nu is not None:
        compare_nu(args, command)
        return 0
    for key in args.models:
        spec = MODELS[key]
        nu = INITIAL_NU[key] if args.nu is None else args.nu
        net, history, arch, task, config = train(key, args.budget, nu, args.seed,
                                                 load_embedded("train", color=spec["color"]), not args.no_progress)
        final = dict(history.final)
        path = save_checkpoint(args.output / spec["file"], arch=arch, network=net, config=config.to_dict(),
                               task=task, history=[final], solver=None)
        loaded, _ = load_network(path, "cpu")  # what liftinv.pretrained will read
        evaluation = evaluate(loaded, spec["sigma"], spec["color"])
        manifest = read_manifest(args.output)
        single = command if len(args.models) == 1 else (
            f"OMP_NUM_THREADS=1 python3 benchmarks/train_pretrained.py --models {key} --budget {args.budget:g} "
            f"--nu {nu:g} --seed {args.seed}")
        manifest["models"][spec["file"]] = {
            "key": key, "sigma": spec["sigma"], "color": spec["color"], "arch": arch, "task": task,
            "config": config.to_dict(), "trainer": config.trainer, "command": single,
            "weight_gradient": make_solver(build_network(arch, device="cpu"), config).config["gradient"],
            "commit": _commit(),
            "seconds": final.get("seconds"), "steps": final.get("iterations"), "epochs": final.get("epoch"),
            "parameters": sum(q.numel() for q in net.parameters()), "bytes": path.stat().st_size,
            "machine": machine(), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "evaluation": evaluation}
        write_manifest(args.output, manifest)
        row = evaluation["methods"]
        print(f"{spec['file']}: {final.get('seconds', 0):.0f} s, {final.get('iterations')} steps; test PSNR "
              + ", ".join(f"{k} {v['psnr_mean']:.2f}" for k, v in row.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
