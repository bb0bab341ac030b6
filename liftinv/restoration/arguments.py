"""The command line's argument groups, shared by every command, and the training command.

Every training command (``liftinv train``, ``liftinv train-deblur``) takes the same options with
the same meaning (:func:`add_training_arguments`): a task only changes their defaults.  Every
command writes where ``-o/--output`` says (a checkpoint, an image, or a benchmark's folder).
Noise levels on the command line are on the 0-255 scale.  Only the standard library is imported
here, so ``liftinv --help`` does not pay for torch.
"""

from __future__ import annotations

import argparse

DEVICE_HELP = "cpu or cuda (default: cuda when available, else cpu)"


def add_device_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help=DEVICE_HELP)


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
    g.add_argument("--budget", type=float, default=None, help="training seconds (wall clock)")
    g.add_argument("--epochs", type=int, default=None, help="training epochs")
    g.add_argument("--batch-size", type=int, default=None, help=f"patches per step (default {d.get('batch_size', 32)})")
    g.add_argument("--lr", type=float, default=None,
                   help=f"Adam learning rate of the weights (default {d.get('lr', 1e-3):g})")
    g.add_argument("--lam", type=parse_lam, default=None,
                   help="lifted penalty weight of the hidden layers: a number or 'balanced' "
                        f"(default {d.get('lam', 1.0)})")
    g.add_argument("--patch", type=int, default=None, help=f"training patch size (default {d.get('patch', 40)})")
    g.add_argument("--max-patches", type=int, default=None, help="train on a random subset of this many patches")
    g.add_argument("--seed", type=int, default=None, help="seed of the weights, shuffling and noise (default 0)")
    add_data_arguments(g)
    add_device_argument(g)
    g.add_argument("-o", "--output", required=True, help="checkpoint file to write (atomically, every epoch)")
    g.add_argument("--resume", action="store_true", help="continue the run saved in --output")
    g.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes (gloo on CPU, one GPU each with NCCL); each trains on its "
                        "shard with batch-size/nproc patches per step (default 1)")
    g.add_argument("--threads", type=int, default=None,
                   help="torch threads per process (default: all cores with --nproc 1, else 1)")
    add_progress_argument(g)
    p.set_defaults(_train_defaults=d)


def parse_lam(text: str):
    """``--lam``: a number, or the name of a rule (``balanced``)."""
    if text == "balanced":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'balanced', got {text!r}") from None


def config_from_args(args: argparse.Namespace):
    """The :class:`~liftinv.restoration.TrainConfig` of a training command's arguments."""
    from .config import TrainConfig

    return TrainConfig.with_defaults(
        args._train_defaults, trainer=args.trainer, budget=args.budget, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, lam=args.lam, patch=args.patch, max_patches=args.max_patches,
        seed=args.seed, device=args.device)


def load_split(data: str, split: str, color: bool):
    """Images of a split from the embedded set or a user folder, with their names."""
    from ..data import embedded_names, list_image_files, load_embedded, load_folder

    if data == "embedded":
        return load_embedded(split, color=color), embedded_names(split, color)
    try:
        return load_folder(data, color=color, split=split), [f.stem for f in list_image_files(data, split)]
    except (FileNotFoundError, ValueError):
        if split == "test":  # a flat folder: train and test on the same images would be a leak
            raise
        return load_folder(data, color=color), [f.stem for f in list_image_files(data)]


def load_train_test(args: argparse.Namespace):
    """``(train images, test images, test names)`` from ``--data`` and ``--color``."""
    train, _ = load_split(args.data, "train", args.color)
    test, names = load_split(args.data, "test", args.color)
    return train, test, names


def run_training_command(args: argparse.Namespace, *, arch: dict, task: dict, images) -> int:
    """Train the network of ``arch`` for ``task`` on ``images`` with the options of ``args``: in
    this process, in ``--nproc`` data-parallel processes, or as one process of a ``torchrun``
    group (see :func:`~liftinv.restoration.training.train_job`)."""
    from .training import train_job

    config = config_from_args(args)
    job = {"arch": arch, "task": task, "config": config.to_dict(), "images": images, "output": args.output,
           "resume": args.resume, "progress": not args.no_progress}
    if args.nproc < 1 or job["config"]["batch_size"] % args.nproc:
        raise ValueError(f"--batch-size {job['config']['batch_size']} must be a multiple of --nproc {args.nproc} >= 1")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.nproc > 1:
        from ..distributed import launch

        launch(train_job, args.nproc, job, threads=args.threads or 1)
        return 0
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from ..distributed import init_from_env

    init_from_env()  # under torchrun: join its process group (WORLD_SIZE, RANK, MASTER_ADDR ...)
    train_job(job)
    return 0
