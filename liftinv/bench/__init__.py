"""The benchmark harness behind ``liftinv bench TASK``, and the experiment code only it uses.

Each entry of :data:`BENCHMARKS` names a module with ``HELP``, ``configure(parser)``, ``run(args)``
and optionally ``check(args)`` (options that do not go together, refused before the output folder
is made); every benchmark takes ``-o/--output`` (its folder), ``--device`` and
``--no-progress`` (:func:`add_common_arguments`), writes ``NAME.json`` and ``NAME.md`` with one
metadata header (:func:`liftinv.restoration.run_metadata`) and its figures.  The modules import
torch inside their functions, so ``liftinv --help`` stays fast.  Measured results and the
commands that made them are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from importlib import import_module

from ..restoration.arguments import add_data_arguments, add_device_argument, add_progress_argument

#: ``liftinv bench NAME`` -> module of :mod:`liftinv.bench`
BENCHMARKS = {"denoise": "denoise", "deblur": "deblur", "invert": "invert", "scale": "scale"}


def add_common_arguments(p: argparse.ArgumentParser, name: str, data: bool = False) -> None:
    """``-o/--output`` (default ``results/bench_NAME``), ``--device``, ``--no-progress``, and with
    ``data`` the ``--data``/``--color`` choice of images (see :func:`images_of`)."""
    p.add_argument("-o", "--output", default=f"results/bench_{name}", help="output folder")
    add_device_argument(p)
    add_progress_argument(p)
    if data:
        add_data_arguments(p)


def images_of(args: argparse.Namespace) -> dict:
    """``train_images``, ``test_images`` and ``test_names`` of ``--data`` / ``--color``."""
    from ..restoration.arguments import load_train_test

    train, test, names = load_train_test(args)
    return {"train_images": train, "test_images": test, "test_names": names}


def configure(parser: argparse.ArgumentParser) -> None:
    """One subcommand per benchmark under ``liftinv bench``."""
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    for name, module_name in BENCHMARKS.items():
        module = import_module(f".{module_name}", __name__)
        p = tasks.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(p)
        p.set_defaults(_bench_run=module.run, _bench_check=getattr(module, "check", None),
                       _command=f"bench {name}")  # its errors: `liftinv bench NAME: error: ...`


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..restoration.arguments import check_data_option
    from ..utils.checks import resolve_device

    if args._bench_check is not None:
        args._bench_check(args)
    resolve_device(args.device, "--device")  # a missing GPU, a missing --data are said before the folder is made
    if hasattr(args, "data"):
        check_data_option(args.data)
    out = Path(args.output)  # the folder of reports exists before any work (a bad path fails now)
    if out.exists() and not out.is_dir():
        raise ValueError(f"-o/--output {args.output!r} is a file; a benchmark writes a folder of reports there: "
                         "choose another path")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"-o/--output {args.output!r}: cannot create the folder ({exc.strerror})") from None
    return args._bench_run(args)


def print_report(output: str, name: str) -> None:
    """Print the benchmark's Markdown report and the files it wrote under ``output``."""
    from pathlib import Path

    out = Path(output)
    print((out / f"{name}.md").read_text())
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir() if p.is_file()))} in {out}/")


def median_step_seconds(solver, x, y, repeats: int = 10, warmup: int = 1) -> float:
    """Median seconds of ``solver.step_batch(x, y)`` over ``repeats`` steps after ``warmup``
    (the device synchronised around each timed step)."""
    import torch

    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda *_: None)
    for _ in range(warmup):
        solver.step_batch(x, y)
    times = []
    for _ in range(repeats):
        sync(x.device)
        t0 = time.perf_counter()
        solver.step_batch(x, y)
        sync(x.device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
