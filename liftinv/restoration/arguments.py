"""The command line's argument groups, shared by every command, and the training command.

Every training command (``liftinv train``, ``liftinv train-deblur``) takes the same options with
the same meaning (:func:`add_training_arguments`): a task only changes their defaults.  Every
command writes where ``-o/--output`` says (a checkpoint, an image, or a benchmark's folder).
Noise levels on the command line are on the 0-255 scale.  Only the standard library is imported
here, so ``liftinv --help`` does not pay for torch.
"""

from __future__ import annotations

import argparse
import contextlib

from ..utils.checks import OptionError, check_device_name, check_number
from ..utils.schedules import LR_SCHEDULES

DEVICE_HELP = "cpu, cuda or cuda:N (default: cuda when available, else cpu)"
IMAGE_OUTPUT = (".png", ".jpg", ".jpeg", ".tif", ".tiff")  # liftinv.data.SAVE_EXTENSIONS, without torch


# -- option types: every numeric option is checked once, here, by liftinv.utils.checks ---------------
def number(*, minimum: float = 0.0, strict: bool = False, integer: bool = False, unit: str = ""):
    """An argparse ``type``: a finite number (an integer with ``integer``) ``>= minimum``
    (``> minimum`` with ``strict``); argparse reports a bad one as ``argument --x: ...``."""

    def parse(text: str):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            value = text
        try:
            return check_number(value, "", minimum=minimum, strict=strict, integer=integer, unit=unit)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None

    parse.__name__ = "integer" if integer else "number"
    return parse


positive_int = number(minimum=1, integer=True)
nonneg_int = number(integer=True)
positive_float = number(strict=True)
nonneg_float = number()
seconds = number(strict=True, unit=" seconds")


def noise_std(*, strict: bool = False):
    """``--sigma``: a noise std on the 0-255 scale of 8-bit images, so at most 255 (a larger value
    reads a level meant for 16-bit or 0-65535 data)."""
    base = number(strict=strict)

    def parse(text: str) -> float:
        value = base(text)
        if value > 255:
            raise argparse.ArgumentTypeError(f"expected a noise std on the 0-255 scale (at most 255), got {text}")
        return value

    parse.__name__ = "noise std"
    return parse


def device_name(text: str) -> str:
    """``--device``: cpu, cuda, cuda:N or mps (its availability is checked before any work)."""
    try:
        return check_device_name(text, "")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None


def every(text: str) -> tuple[int | None, float | None]:
    """``--checkpoint-every``: ``N`` steps, or ``Nm`` / ``Ns`` minutes / seconds of wall clock,
    as ``(steps, seconds)``."""
    scale = {"m": 60.0, "min": 60.0, "s": 1.0}
    body = text.rstrip("mins")
    unit = text[len(body):]
    try:
        if unit == "" and body.isdigit():
            return positive_int(text), None
        if unit in scale and body:
            return None, positive_float(body) * scale[unit]
    except argparse.ArgumentTypeError:
        pass
    raise argparse.ArgumentTypeError(f"expected N >= 1 (steps), Nm (minutes) or Ns (seconds), got {text!r}")


def add_device_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", type=device_name, default=None, help=DEVICE_HELP)


def add_progress_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="embedded",
                   help="'embedded' (scikit-image pictures, the default) or a folder of images "
                        "(flat, or BSDS500-style with train/ and test/)")
    p.add_argument("--color", action="store_true", help="train and test in colour (3 channels)")


def add_training_arguments(p: argparse.ArgumentParser, defaults: dict) -> None:
    """The options of every training command; ``defaults`` are the task's (shown in --help)."""
    d = dict(defaults)
    g = p.add_argument_group("training")
    g.add_argument("--trainer", choices=("lifted", "isgm", "backprop"), default=None,
                   help=f"lifted (Bregman BCD), isgm, or backprop (Adam) (default {d.get('trainer', 'lifted')})")
    g.add_argument("--budget", type=seconds, default=None, help="training seconds (wall clock)")
    g.add_argument("--epochs", type=positive_int, default=None, help="training epochs")
    g.add_argument("--batch-size", type=positive_int, default=None,
                   help=f"patches per step (default {d.get('batch_size', 32)})")
    g.add_argument("--lr", type=positive_float, default=None,
                   help=f"Adam learning rate of the weights (default {d.get('lr', 1e-3):g})")
    g.add_argument("--lr-schedule", choices=sorted(LR_SCHEDULES), default=None,
                   help="the learning rate over the run: constant, or cosine (annealed to 0 at the end of "
                        f"the budget or epochs) (default {d.get('lr_schedule', 'constant')})")
    g.add_argument("--lam", type=parse_lam, default=None,
                   help="lifted penalty weight of the hidden layers: a number or 'balanced' "
                        f"(default {d.get('lam', 1.0)})")
    g.add_argument("--patch", type=positive_int, default=None,
                   help=f"training patch size (default {d.get('patch', 40)})")
    g.add_argument("--max-patches", type=positive_int, default=None,
                   help="train on a random subset of this many patches")
    g.add_argument("--seed", type=nonneg_int, default=None, help="seed of the weights, shuffling and noise (default 0)")
    add_data_arguments(g)
    add_device_argument(g)
    g.add_argument("-o", "--output", required=True,
                   help="checkpoint file (.pt or .pth) to write (atomically, every epoch)")
    g.add_argument("--resume", action="store_true", help="continue the run saved in --output")
    g.add_argument("--overwrite", action="store_true", help="replace an existing --output with a new run")
    g.add_argument("--checkpoint-every", type=every, default=(None, None), metavar="N|Nm|Ns",
                   help="also write the checkpoint every N steps, or every N minutes (Nm) or seconds (Ns)")
    g.add_argument("--nproc", type=positive_int, default=1,
                   help="data-parallel processes (gloo on CPU, one GPU each with NCCL); each trains on its "
                        "shard with batch-size/nproc patches per step (default 1)")
    g.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads per process (default: all cores with --nproc 1, else 1)")
    add_progress_argument(g)
    p.set_defaults(_train_defaults=d)


def parse_lam(text: str):
    """``--lam``: a number, or the name of a rule (``balanced``)."""
    if text == "balanced":
        return text
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} or 'balanced'") from None


def config_from_args(args: argparse.Namespace):
    """The :class:`~liftinv.restoration.TrainConfig` of a training command's arguments."""
    from .config import TrainConfig

    defaults = args._train_defaults or {}
    if args.budget is None and args.epochs is None and not (defaults.get("budget") or defaults.get("epochs")):
        raise OptionError("give --budget (training seconds) or --epochs")
    return TrainConfig.with_defaults(
        args._train_defaults, trainer=args.trainer, budget=args.budget, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, lr_schedule=args.lr_schedule, lam=args.lam, patch=args.patch,
        max_patches=args.max_patches,
        seed=args.seed, device=args.device)


def check_data_option(data: str) -> None:
    """``--data``: ``'embedded'`` or a folder that exists (errors named as the option, not as the loader)."""
    from pathlib import Path

    if data == "embedded":
        return
    if not Path(data).exists():
        raise FileNotFoundError(f"--data {data!r} does not exist: give a folder of images, or 'embedded'")
    if not Path(data).is_dir():
        raise NotADirectoryError(f"--data {data!r} is a file, not a folder: give a folder of images (flat, or with "
                                 "train/ and test/), or 'embedded'")


def load_split(data: str, split: str, color: bool):
    """Images of a split from the embedded set or a user folder, with their names; a folder's errors
    name ``--data`` (not the loader)."""
    from ..data import embedded_names, list_image_files, load_embedded, load_folder

    if data == "embedded":
        return load_embedded(split, color=color), embedded_names(split, color)
    check_data_option(data)
    name = f"--data {data!r}"  # the loader's messages name the option
    try:
        files = list_image_files(data, split, name=name)
    except FileNotFoundError:  # no split folder: a flat folder of training images
        if split == "test":  # train and test on the same images would be a leak
            raise
        return load_folder(data, color=color, name=name), [f.stem for f in list_image_files(data, name=name)]
    # the split folder exists: its errors (no images, a file that cannot be read) are the answer
    return load_folder(data, color=color, split=split, name=name), [f.stem for f in files]


def load_train_test(args: argparse.Namespace):
    """``(train images, test images, test names)`` from ``--data`` and ``--color``."""
    train, _ = load_split(args.data, "train", args.color)
    test, names = load_split(args.data, "test", args.color)
    return train, test, names


#: The options of the image commands that name a file they read, which ``-o`` must not replace.
INPUT_OPTIONS = {"input": "the input", "clean": "--clean", "kernel_file": "--kernel-file", "features": "--features",
                 "checkpoint": "--checkpoint", "weights": "--weights"}


def check_output_option(path: str, extensions, what: str):
    """``-o/--output`` as a ``Path`` when ``what`` can be written there (see
    :func:`~liftinv.utils.files.check_output_path`): a missing or unknown extension is a malformed
    option (:class:`OptionError`, exit status 2); a folder, a device or a folder where nothing can be
    written is a file problem (exit status 1, as for the other files)."""
    from ..utils.files import ExtensionError, check_output_path

    try:
        return check_output_path(path, extensions, "-o/--output", what)
    except ExtensionError as exc:
        raise OptionError(str(exc)) from None


def check_image_output(args: argparse.Namespace) -> None:
    """Refuse ``-o/--output`` unless an image can be written there (:func:`check_output_option`)
    and it is none of the files the command reads (exit status 2), before any work."""
    import os
    from pathlib import Path

    check_output_option(args.output, IMAGE_OUTPUT, "an image")
    if not Path(args.output).exists():
        return
    for attr, option in INPUT_OPTIONS.items():
        read = getattr(args, attr, None)
        if isinstance(read, str) and Path(read).exists() and os.path.samefile(read, args.output):
            raise OptionError(f"-o/--output {args.output!r} is {option} file: writing it would destroy what the "
                              "command reads; choose another output path")


def load_input_image(path: str, channels: int | None = None, option: str = "input"):
    """The image file ``path`` as a (C, H, W) tensor in [0, 1], in ``channels`` channels.

    The one rule of every command: an image whose channels differ from the network's is
    converted to them (colour to grayscale by its luma, grayscale to three equal channels), and
    a ``note:`` line says so."""
    from ..data import load_image

    image = load_image(path)
    if channels is not None and image.shape[0] != channels:
        kind = {1: "grayscale", 3: "colour"}
        print(f"note: {option} {path} is {kind.get(image.shape[0], image.shape[0])} but the network is "
              f"{kind.get(channels, channels)}: converted to {kind.get(channels, channels)}")
        image = load_image(path, color=channels == 3)
    return image


def load_trained(path: str, device=None):
    """``(network, checkpoint)`` of a trained checkpoint, with errors that name the file (a
    missing or foreign one, an architecture that cannot be built, weights that do not fit it,
    NaN weights)."""
    from ..checkpoint import load_checkpoint
    from ..utils.checks import resolve_device
    from .registry import load_network

    device = resolve_device(device, "--device")
    load_checkpoint(path, map_location="cpu")  # a missing, foreign or damaged file, named
    with naming_checkpoint(path):
        return load_network(path, device)


@contextlib.contextmanager
def naming_checkpoint(path: str):
    """Errors raised while building a checkpoint's network become ``ValueError`` naming ``path``."""
    try:
        yield
    except KeyError as exc:
        raise ValueError(f"checkpoint {path!r}: its architecture lacks the setting {exc}; retrain it") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        if path in str(exc):
            raise
        raise ValueError(f"checkpoint {path!r}: {exc}") from None


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training, with what was kept and how to continue."""


def _checkpoint_summary(path) -> str | None:
    from ..checkpoint import check_history, load_checkpoint

    try:
        final = (check_history(load_checkpoint(path), path) or [{}])[-1]
    except (OSError, ValueError):
        return None
    return f"epoch {final.get('epoch', 0)}, {final.get('iterations', 0)} steps, {final.get('seconds', 0):.0f} s"


def _interrupted(args: argparse.Namespace, before) -> Interrupted:
    from pathlib import Path

    path = Path(args.output)
    now = path.stat().st_mtime_ns if path.is_file() else None
    if now is None:
        return Interrupted(f"nothing was written to {args.output} (the first checkpoint comes after the "
                           "first epoch; --checkpoint-every writes more often)")
    if now == before and not args.resume:
        return Interrupted(f"nothing was written: {args.output} still holds the earlier run")
    again = "run the same command again" if args.resume else "run the same command with --resume"
    return Interrupted(f"the last checkpoint {args.output} ({_checkpoint_summary(path)}) is kept; {again} "
                       "to continue it")


def _worker_error(exc, nproc: int) -> ValueError:
    """A one-line error for a failed ``--nproc`` process (not its traceback inside ours)."""
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    kind, _, message = (lines[-1] if lines else "").partition(": ")
    kind = kind.rsplit(".", 1)[-1]
    user = kind in ("ValueError", "TrainingDiverged", "FileNotFoundError", "IsADirectoryError", "NotADirectoryError")
    what = message if user and message else f"{kind}: {message}" if message else str(exc).strip()
    index = getattr(exc, "error_index", "?")
    return ValueError(f"--nproc: process {index} of {nproc} failed: {what}")


def run_training_command(args: argparse.Namespace, *, arch: dict, task: dict) -> int:
    """Train the network of ``arch`` for ``task`` with the options of ``args``: in this process,
    in ``--nproc`` data-parallel processes, or as one process of a ``torchrun`` group (see
    :func:`~liftinv.restoration.training.train_job`).

    Everything that can be checked is checked before the images are loaded: the settings, the
    device, ``-o/--output`` (a .pt/.pth file; an existing one only with ``--resume`` or
    ``--overwrite``) and, with ``--resume``, that the checkpoint continues this very run; then
    the images against ``--patch`` and the network against the trainer, before any training."""
    import logging

    from ..checkpoint import CHECKPOINT_EXTENSIONS, load_checkpoint
    from ..utils.checks import resolve_device
    from .training import check_resumable, train_job

    config = config_from_args(args)
    if config.batch_size % args.nproc:
        raise OptionError(f"--batch-size {config.batch_size} must be a multiple of --nproc {args.nproc}")
    resolve_device(config.device, "--device")
    output = check_output_option(args.output, CHECKPOINT_EXTENSIONS, "a checkpoint")
    if args.resume and args.overwrite:
        raise OptionError("give --resume (continue the run in -o/--output) or --overwrite (replace it), not both")
    if args.resume:
        if not output.is_file():
            raise FileNotFoundError(f"--resume: there is no checkpoint {args.output!r} to continue; "
                                    "drop --resume to start a new run")
        state = load_checkpoint(output)
        check_resumable(state, args.output, arch=arch, task=task, config=config)
        final = (state.get("history") or [{}])[-1]
        if (config.epochs is not None and final.get("epoch", 0) >= config.epochs) or \
                (config.budget is not None and final.get("seconds", 0.0) >= config.budget):
            raise ValueError(f"--resume: {args.output!r} has finished its run ({_checkpoint_summary(output)}; "
                             f"--budget {config.budget}, --epochs {config.epochs}): raise --budget or --epochs "
                             "to train it longer")
    elif output.is_file() and not args.overwrite:
        summary = _checkpoint_summary(output)
        held = f"a checkpoint ({summary})" if summary else "a file"
        raise ValueError(f"-o/--output {args.output!r} already holds {held}; continue it with --resume, "
                         "or replace it with --overwrite")
    kernel = arch.get("kernel")  # a deblurring network is built for its training patch
    if kernel is not None and max(len(kernel), len(kernel[0])) > config.patch:
        size = max(len(kernel), len(kernel[0]))
        raise OptionError(f"--patch {config.patch} is smaller than the kernel ({len(kernel)}x{len(kernel[0])}): "
                          f"raise --patch to at least {size}, or use a smaller kernel")
    images, names = load_split(args.data, "train", args.color)
    small = [f"{name} ({im.shape[-2]}x{im.shape[-1]})" for im, name in zip(images, names)
             if min(im.shape[-2:]) < config.patch]
    if small:  # before the network is built: its step sizes cost power iterations on a patch
        raise ValueError(f"--patch {config.patch}: {len(small)} training image(s) are smaller than a patch: "
                         f"{', '.join(small[:5])}{' ...' if len(small) > 5 else ''}; lower --patch or "
                         f"remove them from {args.data!r}")
    if config.trainer != "backprop":
        from ..models.network import LiftedNetwork
        from .registry import build_network

        if not isinstance(build_network(arch, device="cpu", seed=0), LiftedNetwork):
            raise OptionError(f"--model {arch.get('name')}: it is not a lifted network, so --trainer "
                             f"{config.trainer} cannot train it; use --trainer backprop")
    steps, secs = args.checkpoint_every
    job = {"arch": arch, "task": task, "config": config.to_dict(), "images": images, "output": args.output,
           "resume": args.resume, "progress": not args.no_progress, "save_every_steps": steps,
           "save_every_seconds": secs}
    before = output.stat().st_mtime_ns if output.is_file() else None
    try:
        if args.nproc > 1:
            import torch.multiprocessing as mp

            from ..distributed import launch

            spawn_log = logging.getLogger("torch.multiprocessing.spawn")  # "Terminating process ..."
            level = spawn_log.level
            spawn_log.setLevel(logging.ERROR)
            try:
                launch(train_job, args.nproc, job, threads=args.threads or 1)
            except (mp.ProcessRaisedException, mp.ProcessExitedException) as exc:
                raise _worker_error(exc, args.nproc) from None
            finally:
                spawn_log.setLevel(level)
            return 0
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        from ..distributed import init_from_env

        init_from_env()  # under torchrun: join its process group (WORLD_SIZE, RANK, MASTER_ADDR ...)
        train_job(job)
    except KeyboardInterrupt:
        raise _interrupted(args, before) from None
    return 0
