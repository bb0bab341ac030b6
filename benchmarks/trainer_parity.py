"""Lifted against backprop training of the same network, timed interleaved, over several seeds.

For every noise level and seed, one process builds the network twice from the same seed, draws
one stream of mini-batches (patches of the training images, degraded afresh, seeded) and feeds
every batch to both trainers, alternating which goes first.  Each step is timed on its own, so the
two trainers share the machine's load step by step: a shared, noisy machine slows both alike, and
the ratio of their step times is measured where it matters.  Every ``--eval-every`` steps (outside
the timed region) both networks restore the test images.  Reported per level, as mean and spread
(min..max) over the seeds:

* the equal-step gap, lifted minus backprop test PSNR at each evaluation step;
* the equal-time gap at T = the smaller of the two trainers' training times: each PSNR-against-
  seconds curve interpolated at T;
* the step-time ratio (median over the interleaved pairs of lifted seconds / backprop seconds);
* the seconds the lifted trainer needs to reach the backprop model's final PSNR (or "not reached").

Tasks: ``denoise`` (the default DFB-PNN, or ScCP-PNN with ``--arch sccp``; sigma on the 0-255
scale) and ``deblur`` (the unrolled
deblurring network with the task's training defaults, noise in % of the range, Gaussian blur).
``--holdout`` trains on the training images minus chelsea and coffee and scores on those two (for
choosing settings without looking at the test images); by default the embedded test images are
scored.  ``--lifted KEY=VALUE`` passes BCD settings to the lifted trainer (e.g. ``gradient=aux``).

``--device cuda`` trains both networks on the GPU (the stream of batches is drawn there; each step is
timed between two ``torch.cuda.synchronize`` calls); the test images are degraded on the CPU as
always, so every device scores the same degraded images.

Usage: ``python3 benchmarks/trainer_parity.py --task denoise --levels 25 --seeds 0 1 2 --steps 1000``
(see benchmarks/README.md; the outputs are ``parity.{json,md,png}`` in ``--out``).  Seeds run in
separate processes (one per core) combine with ``--merge DIR DIR ... -o OUT``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

from liftinv import tune_cpu_allocator
from liftinv.data import embedded_names, load_embedded
from liftinv.restoration import (
    TrainConfig,
    build_network,
    degraded_test_set,
    make_physics,
    make_solver,
    restore_images,
    run_metadata,
    score,
    training_patches,
)
from liftinv.utils.checks import resolve_device

TRAINERS = ("lifted", "backprop")
HOLDOUT = ("chelsea", "coffee")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--task", choices=("denoise", "deblur"), default="denoise")
    add("--levels", type=float, nargs="+", help="noise levels: sigma/255 (denoise, default 25) or %% (deblur, 1 5)")
    add("--seeds", type=int, nargs="+", default=[0, 1, 2])
    add("--steps", type=int, default=1000, help="training steps per trainer")
    add("--eval-every", type=int, default=100, help="steps between test evaluations")
    add("--arch", default="dfb", choices=("dfb", "sccp"), help="denoise: the unrolled network (default dfb)")
    add("--kernel", default="gaussian:2.0", help="deblur: the blur kernel")
    add("--crop", type=int, default=256, help="central crop of the scored images (0: whole images)")
    add("--holdout", action="store_true", help=f"train without {HOLDOUT} and score on them")
    add("--lifted", action="append", default=[], metavar="KEY=VALUE", help="a BCD setting of the lifted trainer")
    add("--lr", type=float, help="Adam's learning rate, both trainers (the task's default)")
    add("-o", "--out", "--output", default="benchmarks/results/parity")
    add("--threads", type=int, default=1)
    add("--device", default="cpu", help="where both trainers run: cpu (default) or cuda")
    add("--merge", nargs="+", metavar="DIR", help="combine the parity.json of earlier runs in these folders "
        "(same settings, different seeds or levels) into one report in --out, instead of training")
    args = p.parse_args(argv)
    args.levels = args.levels or ([25.0] if args.task == "denoise" else [1.0, 5.0])
    if not args.merge:
        try:
            args.device = str(resolve_device(args.device, "--device"))
        except ValueError as err:
            p.error(str(err))
    return args


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def lifted_options(pairs: list[str]) -> dict:
    """``['gradient=aux', 'aux_iters=2']`` -> ``{'gradient': 'aux', 'aux_iters': 2}``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--lifted: expected KEY=VALUE, got {pair!r}")
        out[key] = _value(value)
    return out


def crop(image: torch.Tensor, size: int) -> torch.Tensor:
    if size <= 0:
        return image
    h, w = image.shape[-2:]
    top, left = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return image[..., top:top + size, left:left + size]


def setup(args, level: float):
    """(task dict, architecture, config defaults) of one noise level."""
    if args.task == "denoise":
        from liftinv.denoising.models import default_arch
        from liftinv.denoising.task import describe

        return describe(level / 255.0), default_arch(args.arch, 1, 40), {}
    from liftinv.deblurring.cli import TRAIN_DEFAULTS
    from liftinv.deblurring.models import default_deblur_arch
    from liftinv.deblurring.physics import parse_kernel
    from liftinv.deblurring.task import describe

    kernel = parse_kernel(args.kernel)
    defaults = {k: v for k, v in TRAIN_DEFAULTS.items() if k != "trainer"}
    return describe(kernel, level / 100.0), default_deblur_arch(kernel, 1, 40), defaults


def images(args):
    names, train = embedded_names("train"), load_embedded("train")
    if args.holdout:
        test = [crop(im, args.crop) for n, im in zip(names, train) if n in HOLDOUT]
        train = [im for n, im in zip(names, train) if n not in HOLDOUT]
        return train, test, list(HOLDOUT)
    return train, [crop(im, args.crop) for im in load_embedded("test")], embedded_names("test")


def run_pair(args, level: float, seed: int, train, test) -> dict:
    """Both trainers on one stream of batches; curves of (step, seconds, PSNR)."""
    task, arch, defaults = setup(args, level)
    device = torch.device(args.device)
    physics = make_physics(task, device)
    degraded = degraded_test_set(make_physics(task), test)  # on the CPU: the same test set on every device
    if args.lr is not None:
        defaults["lr"] = args.lr
    configs = {t: TrainConfig.with_defaults(defaults, trainer=t, epochs=1, seed=seed) for t in TRAINERS}
    nets = {t: build_network(arch, device=device, seed=seed) for t in TRAINERS}
    options = {"monitor_every": args.eval_every, **lifted_options(args.lifted)}
    solvers = {"lifted": make_solver(nets["lifted"], configs["lifted"], **options),
               "backprop": make_solver(nets["backprop"], configs["backprop"])}
    patches = training_patches(train, configs["lifted"]).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batch = configs["lifted"].batch_size
    gen = torch.Generator().manual_seed(seed)
    seconds = dict.fromkeys(TRAINERS, 0.0)
    curves = {t: [] for t in TRAINERS}
    ratios, stats = [], {}
    for step in range(1, args.steps + 1):
        clean = patches[torch.randint(0, patches.shape[0], (batch,), generator=gen).to(device)]
        noisy = physics(clean, seed=int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        pair = {}
        for t in (TRAINERS if step % 2 else TRAINERS[::-1]):  # alternate who goes first
            sync()
            t0 = time.perf_counter()
            out = solvers[t].step_batch(noisy, clean)
            sync()
            pair[t] = time.perf_counter() - t0
            seconds[t] += pair[t]
            if t == "lifted" and out:  # monitored at steps 1, 1 + E, ...: the point says which step
                stats = {**out, "monitored_step": step}
        ratios.append(pair["lifted"] / pair["backprop"])
        if step % args.eval_every == 0 or step == args.steps:
            for t in TRAINERS:
                psnr = score(restore_images(nets[t], degraded), test)["psnr_mean"]
                point = {"step": step, "seconds": round(seconds[t], 3), "psnr": round(psnr, 4)}
                if t == "lifted":
                    point.update({k: round(v, 5) for k, v in stats.items()})
                curves[t].append(point)
            print(json.dumps({"level": level, "seed": seed, "step": step,
                              **{t: curves[t][-1]["psnr"] for t in TRAINERS}}), flush=True)
    return {"level": level, "seed": seed, "curves": curves, "step_ratio": statistics.median(ratios),
            "config": {t: configs[t].to_dict() for t in TRAINERS}, "lifted_options": options,
            "lifted_solver": solvers["lifted"].config}


def interpolate(curve: list[dict], t: float) -> float:
    """PSNR of a (seconds, psnr) curve at time ``t`` (linear between evaluations; clamped)."""
    points = [(0.0, None)] + [(p["seconds"], p["psnr"]) for p in curve]
    for (t0, p0), (t1, p1) in zip(points, points[1:]):
        if t <= t1:
            return p1 if p0 is None or t1 == t0 else p0 + (p1 - p0) * (t - t0) / (t1 - t0)
    return points[-1][1]


def time_to_reach(curve: list[dict], psnr: float) -> float | None:
    return next((p["seconds"] for p in curve if p["psnr"] >= psnr), None)


def spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values), "n": len(values)}


def summarise(runs: list[dict]) -> dict:
    out = {}
    for level in sorted({r["level"] for r in runs}):
        mine = [r for r in runs if r["level"] == level]
        steps = [p["step"] for p in mine[0]["curves"]["lifted"]]
        equal_step = {str(s): spread([r["curves"]["lifted"][i]["psnr"] - r["curves"]["backprop"][i]["psnr"]
                                      for r in mine]) for i, s in enumerate(steps)}
        equal_time, reach, finals = [], [], {t: [] for t in TRAINERS}
        for r in mine:
            lc, bc = r["curves"]["lifted"], r["curves"]["backprop"]
            horizon = min(lc[-1]["seconds"], bc[-1]["seconds"])
            equal_time.append(interpolate(lc, horizon) - interpolate(bc, horizon))
            reach.append(time_to_reach(lc, bc[-1]["psnr"]))
            for t in TRAINERS:
                finals[t].append(r["curves"][t][-1]["psnr"])
        out[str(level)] = {
            "equal_step_gap": equal_step, "equal_time_gap": spread(equal_time),
            "step_ratio": spread([r["step_ratio"] for r in mine]),
            # the ratio of the summed step times: what the runs paid, the steps that refresh the step sizes
            # and monitor the lifted objective included (the median of the pairs leaves them out)
            "step_ratio_amortised": spread([r["curves"]["lifted"][-1]["seconds"]
                                            / r["curves"]["backprop"][-1]["seconds"] for r in mine]),
            "final_psnr": {t: spread(v) for t, v in finals.items()},
            "lifted_seconds_to_backprop_final": reach,
        }
    return out


def _fmt(s: dict, digits: int = 2) -> str:
    return f"{s['mean']:+.{digits}f} ({s['min']:+.{digits}f}..{s['max']:+.{digits}f})"


def markdown(report: dict) -> str:
    meta, unit = report["meta"], "sigma (/255)" if report["settings"]["task"] == "denoise" else "noise (%)"
    lines = [f"# Lifted against backprop, interleaved ({report['settings']['task']})", "",
             f"Command: `{meta['command']}`", "",
             f"Scored on: {', '.join(report['settings']['scored_on'])}; seeds {report['settings']['seeds']}; "
             f"{report['settings']['steps']} steps per trainer; lifted options {report['settings']['lifted']}, "
             f"weight gradient `{report['runs'][0]['lifted_solver']['gradient']}`.", "",
             "Gaps are lifted minus backprop test PSNR (dB), mean (min..max) over the seeds.", "",
             f"| {unit} | final PSNR lifted | final PSNR backprop | equal-step gap (final) | equal-time gap | "
             "step ratio lifted/backprop (median; amortised) | lifted seconds to backprop's final PSNR |",
             "|---|---|---|---|---|---|---|"]
    for level, s in report["summary"].items():
        last = list(s["equal_step_gap"])[-1]
        reach = ", ".join("not reached" if v is None else f"{v:.0f}" for v in s["lifted_seconds_to_backprop_final"])
        lines.append(f"| {float(level):g} | {s['final_psnr']['lifted']['mean']:.2f} | "
                     f"{s['final_psnr']['backprop']['mean']:.2f} | {_fmt(s['equal_step_gap'][last])} | "
                     f"{_fmt(s['equal_time_gap'])} | {s['step_ratio']['mean']:.2f} "
                     f"({s['step_ratio']['min']:.2f}..{s['step_ratio']['max']:.2f}); "
                     f"{s['step_ratio_amortised']['mean']:.2f} | {reach} |")
    lines += ["", "Equal-step gap at every evaluation:", "", "| level | step | gap (dB) |", "|---|---|---|"]
    for level, s in report["summary"].items():
        lines += [f"| {float(level):g} | {step} | {_fmt(g, 3)} |" for step, g in s["equal_step_gap"].items()]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = sorted({r["level"] for r in report["runs"]})
    fig, axes = plt.subplots(len(levels), 2, figsize=(10, 3.6 * len(levels)), squeeze=False)
    for row, level in enumerate(levels):
        for col, x in enumerate(("step", "seconds")):
            ax = axes[row][col]
            for t, colour in zip(TRAINERS, ("C0", "C1")):
                for i, r in enumerate(r for r in report["runs"] if r["level"] == level):
                    c = r["curves"][t]
                    ax.plot([p[x] for p in c], [p["psnr"] for p in c], color=colour, alpha=0.8,
                            label=t if i == 0 else None)
            ax.set_xlabel("training steps" if x == "step" else "training seconds")
            ax.set_ylabel("test PSNR (dB)")
            ax.set_title(f"level {level:g}, one line per seed")
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: the settings that runs must share to be merged into one report
MERGE_KEYS = ("task", "steps", "eval_every", "holdout", "scored_on", "arch", "crop", "lr", "kernel")
#: what a report written before a key was recorded ran with
MERGE_DEFAULTS = {"kernel": lambda settings: "gaussian:2.0" if settings.get("task") == "deblur" else None}


def lifted_setup(report: dict) -> dict:
    """What the lifted trainer of a report ran with: the solver configuration each run resolved
    (so ``--lifted aux_step=mirror`` and no option merge once mirror is the default), or the
    command-line options for reports written before runs kept it."""
    solvers = [run.get("lifted_solver") for run in report["runs"]]
    if any(s is None for s in solvers):
        return {"options": report["settings"].get("lifted")}
    resolved = {json.dumps({k: v for k, v in s.items() if k != "monitor_every"}, sort_keys=True) for s in solvers}
    return {"solver": sorted(resolved)}


def _setting(settings: dict, key: str):
    """``settings[key]``, or what a report written before ``key`` was recorded ran with."""
    return settings[key] if key in settings else MERGE_DEFAULTS.get(key, lambda _: None)(settings)


def merge(folders: list[str], command: str) -> dict:
    """One report from the ``parity.json`` of earlier runs (e.g. seeds run in separate processes):
    their runs together, summarised again; each source's metadata is kept under ``merged_from``.
    Runs merge when they share :data:`MERGE_KEYS` and their lifted trainer's resolved configuration."""
    reports = [json.loads((Path(f) / "parity.json").read_text()) for f in folders]
    first = reports[0]["settings"]
    for folder, report in zip(folders[1:], reports[1:]):
        differ = [k for k in MERGE_KEYS if _setting(report["settings"], k) != _setting(first, k)]
        if lifted_setup(report) != lifted_setup(reports[0]):
            differ.append("the lifted solver's configuration")
        if differ:
            raise SystemExit(f"--merge: {folder} differs from {folders[0]} in {', '.join(differ)}")
    runs = [run for report in reports for run in report["runs"]]
    pairs = [(run["level"], run["seed"]) for run in runs]
    if len(set(pairs)) != len(pairs):
        raise SystemExit(f"--merge: a (level, seed) pair appears twice in {folders}")
    settings = dict(first, levels=sorted({p[0] for p in pairs}), seeds=sorted({p[1] for p in pairs}))
    meta = dict(run_metadata(torch.device("cpu"), command),
                merged_from=[dict(r["meta"], folder=f) for f, r in zip(folders, reports)])
    return {"meta": meta, "settings": settings, "summary": summarise(runs), "runs": runs}


def main(argv=None) -> dict:
    args = parse_args(argv)
    command = "python3 benchmarks/trainer_parity.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.merge:
        report = merge(args.merge, command)
    else:
        torch.set_num_threads(args.threads)
        tune_cpu_allocator()  # as the command line does: large tensors reuse their memory between steps
        train, test, scored_on = images(args)
        runs = [run_pair(args, level, seed, train, test) for level in args.levels for seed in args.seeds]
        report = {"meta": run_metadata(torch.device(args.device), command),
                  "settings": {"task": args.task, "levels": args.levels, "seeds": args.seeds, "steps": args.steps,
                               "eval_every": args.eval_every, "holdout": args.holdout, "scored_on": scored_on,
                               "arch": args.arch if args.task == "denoise" else "unrolled-deblur",
                               "crop": args.crop, "lifted": lifted_options(args.lifted), "lr": args.lr,
                               "kernel": args.kernel if args.task == "deblur" else None},
                  "summary": summarise(runs), "runs": runs}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "parity.json").write_text(json.dumps(report, indent=1))
    (out / "parity.md").write_text(markdown(report))
    plot(report, out / "parity.png")
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
