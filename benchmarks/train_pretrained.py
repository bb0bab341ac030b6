"""Train the denoisers shipped in ``liftinv/weights/`` and score them on the embedded test images.

Each model is the network of :data:`RECIPE` (the ScCP-PNN, K=11 iterations, F=32 features, Adam
with a cosine learning-rate schedule) trained by the LIFTED trainer (lifted Bregman BCD,
``trainer='lifted'``) on the embedded *training* images, one torch thread, fixed seed, for
``--budget`` training seconds.  The file written is weights only (architecture,
task, settings, the final history record; no optimiser state), readable by
:func:`liftinv.restoration.load_network` and :func:`liftinv.pretrained`.  Afterwards the network is
scored on the embedded *test* images (never used for training or tuning) with the project's
evaluation code (:func:`~liftinv.restoration.degraded_test_set`, :func:`~liftinv.restoration.
restore_images`, :func:`~liftinv.restoration.score`), next to TV (weight tuned on the training
images) and BM3D (CBM3D in colour) at the same sigma, and the result is recorded in
``liftinv/weights/manifest.json`` and ``liftinv/weights/README.md`` (command, training seconds,
steps, machine, date, PSNR/SSIM).

    OMP_NUM_THREADS=1 python3 benchmarks/train_pretrained.py --models gray25 --budget 1800
    OMP_NUM_THREADS=1 python3 benchmarks/train_pretrained.py --compare 600 --variants "" lr=0.004 "arch=dfb,depth=10"

``--compare S`` trains a grayscale model (``--compare-model``, default sigma 25) for S seconds with
each of the recipe ``--variants`` (``KEY=VALUE`` overrides, comma-separated) on the training images
minus one held out (``--holdout``), scores it on that held-out training image and records the
comparison in the manifest; the test images are not touched (``--compare-nu S`` compares the
initial thresholds ``--nus``).
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
from liftinv.denoising.ensemble import SelfEnsemble
from liftinv.denoising.models import default_arch, n_parameters
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


#: the initial threshold of each model.  For the ScCP-PNN of :data:`RECIPE`: 0.003, chosen at sigma 25
#: by the recipe comparison (below; 30.01 dB against 29.80 for 0.01 on the held-out training image
#: at lr 4e-3); the other noise levels and colour use the sigma-25 choice (not compared).  (The
#: DFB-PNN shipped before chose 0.01 by ``--compare-nu``: liftinv/weights/README.md.)
INITIAL_NU = {"gray10": 0.003, "gray15": 0.003, "gray25": 0.003, "gray50": 0.003, "color25": 0.003}

#: how every shipped model is trained; ``--set KEY=VALUE`` overrides a field for one run and
#: ``--compare S --variants ...`` compares overrides on a held-out training image.  Chosen by the
#: recipe comparisons of 2026-12-02 (gray sigma 25, 600 s of lifted training each, trained without
#: chelsea and scored on it; liftinv/weights/README.md): the DFB-PNN (K=10, F=32) at lr 1e-3 gave
#: 29.38 dB, with the cosine schedule 29.41, F=64 29.29, K=20 29.36; the ScCP-PNN (K=11, F=32) with
#: the cosine schedule 29.51 at lr 1e-3, 29.68 at 2e-3, 29.80 at 4e-3, 30.00 at 8e-3, and with
#: nu 0.003 30.01 at 4e-3, 30.06 at 8e-3, 30.15 at 1.6e-2.  8e-3 ships: the full budget is three
#: times longer at high rates than the comparison, and a diverged run would leave no model.
RECIPE = {"arch": "sccp", "depth": 11, "features": 32, "lr": 8e-3, "lr_schedule": "cosine", "batch_size": 32,
          "trainer": "lifted"}


#: settings of the training patches a recipe may override (``--set stride=10``): the
#: :class:`~liftinv.restoration.TrainConfig` fields of the same names, left at their defaults
#: (40x40 patches every 20 pixels) by :data:`RECIPE`.
PATCH_FIELDS = ("patch", "stride")


def parse_overrides(text: str) -> dict:
    """``"depth=20,features=64"`` -> ``{"depth": 20, "features": 64}``, typed like :data:`RECIPE`
    (``nu`` a float)."""
    types = {**{k: type(v) for k, v in RECIPE.items()}, "nu": float, **{k: int for k in PATCH_FIELDS}}
    out = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in types:
            raise SystemExit(f"--set/--variants: {item!r} is not KEY=VALUE with KEY one of {sorted(types)}")
        try:
            out[key] = types[key](value)
        except ValueError:
            raise SystemExit(f"--set/--variants: {key} must be a {types[key].__name__}, got {value!r}") from None
    return out


#: per-model changes to :data:`RECIPE`.  Colour: batches of 16 on a patch grid of stride 10, chosen by
#: ``--compare 600 --compare-model color25 --holdout H`` with each colour training image H held out in
#: turn (liftinv/weights/README.md): 31.37 / 29.54 / 29.89 dB on chelsea / coffee / rocket against
#: the plain recipe's 31.18 / 27.44 / 29.26.  A colour step costs about twice a grayscale one, so in
#: the same budget the colour model sees half the batches, and only three colour training images
#: give far fewer distinct patches.
MODEL_RECIPES = {"color25": {"batch_size": 16, "stride": 10}}


def recipe_of(key: str, overrides: dict) -> dict:
    """The full recipe of model ``key``: :data:`RECIPE`, its :data:`INITIAL_NU` and
    :data:`MODEL_RECIPES` entry, then ``overrides``."""
    return {**RECIPE, "nu": INITIAL_NU[key], **MODEL_RECIPES.get(key, {}), **overrides}


def train(key: str, recipe: dict, budget: float, seed: int, images, progress: bool):
    """``(network, history, arch, task, config)`` of model ``key`` of :data:`MODELS` trained lifted
    by ``recipe`` (:func:`recipe_of`)."""
    sigma, color = MODELS[key]["sigma"], MODELS[key]["color"]
    arch = default_arch(recipe["arch"], 3 if color else 1, depth=recipe["depth"], features=recipe["features"])
    if "nu" in arch:  # the unrolled networks; deepinv's DnCNN has no threshold
        arch["nu"] = recipe["nu"]
    task = describe(sigma / 255)
    config = TrainConfig(trainer=recipe["trainer"], budget=budget, seed=seed, device="cpu", lr=recipe["lr"],
                         lr_schedule=recipe["lr_schedule"], batch_size=recipe["batch_size"],
                         **{k: recipe[k] for k in PATCH_FIELDS if k in recipe})
    net, history = train_network(arch, task, images, config, progress=progress, desc=key)
    return net, history, arch, task, config


def describe_arch(arch: dict) -> str:
    """``"DFB-PNN (K=10, F=32)"``: the network of an architecture dictionary, for tables."""
    if arch["name"] == "dncnn":
        return f"DnCNN (deepinv, depth {arch['depth']}, F={arch['features']})"
    return f"{arch['name'].upper().replace('SCCP', 'ScCP')}-PNN (K={arch['depth']}, F={arch['features']})"


def test_set(sigma: float, color: bool):
    """``(clean, noisy, task)``: the embedded test images and their noisy versions at ``sigma`` (0-255,
    the evaluation seed)."""
    test, task = load_embedded("test", color=color), describe(sigma / 255)
    return test, degraded_test_set(make_physics(task), test), task


def evaluate(net, arch: dict, sigma: float, color: bool) -> dict:
    """PSNR/SSIM of ``net`` (built from ``arch``) alone and in its x8 self-ensemble (what ``liftinv
    denoise`` runs by default), TV and (C)BM3D on the embedded test images at ``sigma`` (0-255)."""
    test, noisy, task = test_set(sigma, color)
    train_images = load_embedded("train", color=color)
    weight, _ = tune_tv_weight(train_images, task["sigma"])
    with torch.no_grad():
        shipped = score(restore_images(net, noisy), test)
        ensemble = score(restore_images(SelfEnsemble(net, 8), noisy), test)
    rows = {"noisy input": score([z.clamp(0, 1) for z in noisy], test),
            f"{describe_arch(arch)} (lifted, shipped)": shipped,
            f"{describe_arch(arch)} (lifted, shipped, x8 self-ensemble)": ensemble,
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


def update_manifest(out: Path, change) -> None:
    """Read the manifest, ``change(manifest)`` in place, write it and the README, holding a lock
    so that two runs of this script (one model per core) never lose each other's entries."""
    import fcntl
    import hashlib
    import tempfile

    key = hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"liftinv-manifest-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = read_manifest(out)
        change(manifest)
        write_manifest(out, manifest)


def readme(manifest: dict) -> str:
    """``liftinv/weights/README.md``: what each file is, how it was made, what it scores."""
    lines = ["# Shipped denoisers", "",
             "Written by `benchmarks/train_pretrained.py` (do not edit by hand: it regenerates this file from",
             "`manifest.json`). Each file is a weights-only liftinv checkpoint (no optimiser state) of an unrolled",
             "proximal denoiser trained by the lifted trainer (lifted Bregman BCD) on the embedded training",
             "images; load it with `liftinv.pretrained(sigma, color=...)` or `liftinv.restoration.load_network`.",
             "Scores: mean PSNR (dB, data range 1) / SSIM on the embedded test images (never used for training",
             "or tuning), noise drawn once with the evaluation seed, TV weight tuned on the training images.", "",
             "Colour images are denoised by default by the grayscale files in the opponent colour space",
             "(`liftinv.denoising.opponent`; `liftinv.pretrained(sigma, color=True)`); the colour file below is",
             "`color_model=\"rgb\"`. Their comparison: `benchmarks/color_denoisers.py`, docs/networks.md.", ""]
    for name, m in sorted(manifest["models"].items()):
        mach = m["machine"]
        lines += [f"## {name}", "",
                  f"- {describe_arch(m['arch'])}, {'colour' if m['color'] else 'grayscale'}, sigma {m['sigma']:g}/255, "
                  f"{m['parameters']} parameters, {m['bytes']} bytes, initial threshold nu {m['arch']['nu']:g}, "
                  f"lr {m['config']['lr']:g} ({m['config'].get('lr_schedule', 'constant')})",
                  f"- command: `{m['command']}`",
                  f"- trained {m['seconds']:.0f} s ({m['steps']} steps, {m['epochs']} epochs), {m['date']}",
                  *([f"- scored again (`--rescore`): `{m['evaluation_command']}`, {m['evaluation_date']}"]
                    if "evaluation_command" in m else []),
                  f"- machine: {mach['cpu']}, {mach['cores']} cores, {mach['torch_threads']} torch thread(s), "
                  f"torch {mach['torch']}, liftinv {mach['liftinv']}", "",
                  "| method (test images: " + ", ".join(m["evaluation"]["images"]) + ") | PSNR | SSIM |",
                  "|---|---|---|"]
        for method, r in m["evaluation"]["methods"].items():
            lines.append(f"| {method} | {r['psnr_mean']:.2f} | {r['ssim_mean']:.3f} |")
        lines.append("")
    for name in sorted(k for k in manifest if k.startswith("nu_comparison")):  # the older, nu-only runs
        cmp = manifest[name]
        lines += ["## Initial threshold nu of the DFB-PNN (shipped until the recipe comparisons)", "",
                  f"Command: `{cmp['command']}`; {cmp['note']}", "",
                  "| nu | steps | PSNR on " + cmp["holdout"] + " |", "|---|---|---|"]
        lines += [f"| {r['nu']:g} | {r['steps']} | {r['psnr']:.2f} |" for r in cmp["runs"]]
        lines.append("")
    if manifest.get("baselines"):
        lines += ["## Baselines: the same budget, other trainers and networks", "",
                  "Trained on the same training images for the same seconds as the shipped model by "
                  "`--baseline` (overrides of the recipe), scored on the test images; not shipped. Step counts "
                  "compare only on one machine (the shipped model's is in its section above).", "",
                  "| model | network | trainer | parameters | seconds | steps | test PSNR / SSIM | shipped model "
                  "| machine | command |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for b in manifest["baselines"]:
            shipped = manifest["models"].get(MODELS[b["key"]]["file"])
            ref = next((f"{r['psnr_mean']:.2f} / {r['ssim_mean']:.3f}" for k, r in
                        (shipped or {}).get("evaluation", {}).get("methods", {}).items() if "shipped" in k), "-")
            lines.append(f"| {b['key']} | {describe_arch(b['arch'])} | {b['trainer']} | {b['parameters']} | "
                         f"{b['seconds']:.0f} | {b['steps']} | {b['psnr']:.2f} / {b['ssim']:.3f} | {ref} | "
                         f"{b['machine']['cpu']} | `{b['command']}` |")
        lines.append("")
    for cmp in manifest.get("comparisons", []):
        lines += [f"## Recipe comparison: {cmp['model']}, {cmp['seconds']:g} s each", "",
                  f"Command: `{cmp['command']}`; {cmp['note']}", "",
                  "| variant | steps | PSNR on " + cmp["holdout"] + " |", "|---|---|---|"]
        lines += [f"| {r['variant'] or '(the recipe)'} | {r['steps']} | {r['psnr']:.2f} |" for r in cmp["runs"]]
        lines.append("")
    return "\n".join(lines)


def compare(args, variants: list[str], command: str) -> None:
    """Train ``--compare-model`` once per variant (overrides of its recipe) on the training images
    (the colour ones for a colour model) without ``--holdout``, score each on that held-out
    training image, record the comparison in the manifest; the test images are not touched."""
    key = args.compare_model
    color = MODELS[key]["color"]
    names = embedded_names("train", color)
    if args.holdout not in names:
        raise SystemExit(f"--holdout must be one of the {'colour ' if color else ''}training images {names}")
    images = load_embedded("train", color=color)
    held = [images[names.index(args.holdout)]]
    rest = [img for name, img in zip(names, images) if name != args.holdout]
    noisy = degraded_test_set(make_physics(describe(MODELS[key]["sigma"] / 255)), held)
    base = parse_overrides(",".join(args.set))
    runs = []
    for variant in variants:
        recipe = recipe_of(key, {**base, **parse_overrides(variant)})
        net, history, *_ = train(key, recipe, args.compare, args.seed, rest, not args.no_progress)
        psnr = score(restore_images(net, noisy), held)["psnr_mean"]
        runs.append({"variant": variant, "recipe": recipe, "steps": history.final.get("iterations"), "psnr": psnr})
        print(f"{variant or '(the recipe)'}: {history.final.get('iterations')} steps, PSNR on {args.holdout} "
              f"{psnr:.2f} dB", flush=True)
    best = max(runs, key=lambda r: r["psnr"])
    update_manifest(args.output, lambda manifest: manifest.setdefault("comparisons", []).append({
        "command": command, "model": key, "seconds": args.compare, "holdout": args.holdout, "runs": runs,
        "best": best["variant"],
        "note": (f"trained on the training images without {args.holdout}, scored on {args.holdout} (the test "
                 f"images are not used); best: {best['variant'] or '(the recipe)'}")}))
    print(f"best: {best['variant'] or '(the recipe)'}")


def record_baseline(out: Path, key: str, recipe: dict, arch: dict, net, final: dict, command: str,
                    solver: dict) -> None:
    """Score a ``--baseline`` network on the test images and record it under ``baselines`` (one entry
    per model and recipe: a re-run replaces the older one); ``solver``: the trainer's resolved settings."""
    spec = MODELS[key]
    test, noisy, _ = test_set(spec["sigma"], spec["color"])
    result = score(restore_images(net, noisy), test)
    entry = {"key": key, "recipe": recipe, "arch": arch, "trainer": recipe["trainer"], "command": command,
             "solver": solver, "seconds": final.get("seconds"), "steps": final.get("iterations"),
             "parameters": n_parameters(net), "psnr": result["psnr_mean"],
             "ssim": result["ssim_mean"], "machine": machine(),
             "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "commit": _commit()}

    def change(manifest):
        rest = [b for b in manifest.get("baselines", []) if (b["key"], b["recipe"]) != (key, recipe)]
        manifest["baselines"] = rest + [entry]

    update_manifest(out, change)
    print(f"baseline {key} {describe_arch(arch)} {recipe['trainer']}: {entry['seconds']:.0f} s, {entry['steps']} "
          f"steps, test PSNR {entry['psnr']:.2f} / SSIM {entry['ssim']:.3f}", flush=True)


def rescore(out: Path, key: str, command: str) -> None:
    """Evaluate the weights of model ``key`` in ``out`` again (:func:`evaluate`) and replace their
    manifest entry's evaluation, recording the command and date of the scoring."""
    spec = MODELS[key]
    path = out / spec["file"]
    if not path.is_file() or spec["file"] not in read_manifest(out)["models"]:
        raise SystemExit(f"--rescore: no {spec['file']} with a manifest entry in {out}; train it first")
    net, ckpt = load_network(path, "cpu")
    evaluation = evaluate(net, ckpt["arch"], spec["sigma"], spec["color"])

    def change(manifest):
        manifest["models"][spec["file"]].update(
            evaluation=evaluation, evaluation_command=command,
            evaluation_date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"))

    update_manifest(out, change)
    print(f"{spec['file']}: test PSNR " + ", ".join(f"{k} {v['psnr_mean']:.2f}"
                                                   for k, v in evaluation["methods"].items()), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    p.add_argument("--budget", type=float, default=1800.0, help="training seconds per model (default 1800)")
    p.add_argument("--nu", type=float, default=None,
                   help="initial threshold of the network (default: the model's INITIAL_NU, from --compare-nu 120)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help=f"override fields of the recipe {RECIPE} or the patch settings {PATCH_FIELDS} "
                        "(e.g. --set arch=sccp depth=20 stride=10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", "--out", type=Path, default=WEIGHTS_DIR,
                   help="folder of the weights (liftinv/weights)")
    p.add_argument("--compare", type=float, default=None, metavar="S",
                   help="only compare the recipe --variants, S training seconds each, on --holdout")
    p.add_argument("--variants", nargs="+", default=[""], metavar="KEY=VALUE[,KEY=VALUE]",
                   help="recipe overrides compared by --compare ('' is the recipe itself)")
    p.add_argument("--compare-nu", type=float, default=None, metavar="S",
                   help="--compare S with one variant per initial threshold of --nus")
    p.add_argument("--nus", type=float, nargs="+", default=[0.05, 0.01])
    p.add_argument("--compare-model", choices=sorted(MODELS), default="gray25",
                   help="the model (sigma and colour) that --compare trains (default gray25)")
    p.add_argument("--holdout", default="chelsea", help="training image held out by --compare")
    p.add_argument("--baseline", action="store_true",
                   help="train --models with the --set overrides (e.g. trainer=backprop, or arch=dncnn) for "
                        "--budget s, score on the test images, record under 'baselines'; no weights written")
    p.add_argument("--rescore", action="store_true",
                   help="score the weights of --models already in --output again on the test images (no "
                        "training) and replace their evaluation in the manifest")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    tune_cpu_allocator()  # as `liftinv train` does: large tensors reuse their memory between steps
    command = "OMP_NUM_THREADS=1 python3 benchmarks/train_pretrained.py " + shlex.join(argv or sys.argv[1:])
    if args.compare_nu is not None:
        args.compare, args.variants = args.compare_nu, [f"nu={nu:g}" for nu in args.nus]
    if args.compare is not None:
        compare(args, args.variants, command)
        return 0
    if args.rescore:
        for key in args.models:
            rescore(args.output, key, command)
        return 0
    for key in args.models:
        spec = MODELS[key]
        recipe = recipe_of(key, {**parse_overrides(",".join(args.set)),
                                 **({} if args.nu is None else {"nu": args.nu})})
        net, history, arch, task, config = train(key, recipe, args.budget, args.seed,
                                                 load_embedded("train", color=spec["color"]), not args.no_progress)
        final = dict(history.final)
        solver = make_solver(build_network(arch, device="cpu"), config).config  # e.g. the auxiliary step
        if args.baseline:
            record_baseline(args.output, key, recipe, arch, net, final, command, solver)
            continue
        path = save_checkpoint(args.output / spec["file"], arch=arch, network=net, config=config.to_dict(),
                               task=task, history=[final], solver=None)
        loaded, _ = load_network(path, "cpu")  # what liftinv.pretrained will read
        evaluation = evaluate(loaded, arch, spec["sigma"], spec["color"])
        single = command if len(args.models) == 1 else (
            f"OMP_NUM_THREADS=1 python3 benchmarks/train_pretrained.py --models {key} --budget {args.budget:g} "
            f"--nu {recipe['nu']:g} --seed {args.seed}" + (" --set " + shlex.join(args.set) if args.set else ""))
        entry = {
            "key": key, "sigma": spec["sigma"], "color": spec["color"], "arch": arch, "task": task, "recipe": recipe,
            "config": config.to_dict(), "trainer": config.trainer, "command": single,
            "solver": solver, "weight_gradient": solver.get("gradient"),
            "commit": _commit(),
            "seconds": final.get("seconds"), "steps": final.get("iterations"), "epochs": final.get("epoch"),
            "parameters": n_parameters(net), "bytes": path.stat().st_size,
            "machine": machine(), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "evaluation": evaluation}

        def record(manifest, file=spec["file"], entry=entry):
            shipped = {m["file"] for m in MODELS.values()}
            manifest["models"] = {f: m for f, m in manifest["models"].items() if f in shipped}  # no stale files
            manifest["models"][file] = entry

        update_manifest(args.output, record)
        row = evaluation["methods"]
        print(f"{spec['file']}: {final.get('seconds', 0):.0f} s, {final.get('iterations')} steps; test PSNR "
              + ", ".join(f"{k} {v['psnr_mean']:.2f}" for k, v in row.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
