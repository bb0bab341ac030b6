"""The ``liftinv`` console command.

Subcommands live in one table, :data:`COMMANDS`. Each entry is a :class:`Command`: a name, a
one-line help, a function that adds its arguments to an :class:`argparse.ArgumentParser` and a
function that runs it and returns an exit status, added with :func:`register`::

    def _configure_train(parser):
        parser.add_argument("--epochs", type=int, default=10)

    def _run_train(args) -> int:
        ...
        return 0

    register(Command("train", "train a network", _configure_train, _run_train))

Heavy imports (torch, deepinv) happen inside the run functions, so ``liftinv --help`` and
``liftinv --version`` stay fast.  Errors are one line on stderr, ``liftinv COMMAND: error: ...``:
bad arguments (a malformed or out-of-range option, or options that do not go together:
:class:`~liftinv.utils.checks.OptionError`) with exit status 2, before anything runs;
a user error found while running (a missing or unreadable file, a checkpoint that does not fit,
a diverged training run: :data:`USER_ERRORS`) with exit status 1; Ctrl-C with status 130 and a
line saying what was kept.  :func:`main` returns the status instead of raising ``SystemExit``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from liftinv import __version__
from liftinv.utils.allocator import tune_cpu_allocator
from liftinv.utils.checks import OptionError

__all__ = ["Command", "COMMANDS", "USER_ERRORS", "register", "build_parser", "main", "report_errors"]

#: Exceptions that are the user's to fix (their message says how), reported without a traceback.
#: ``OSError`` covers a missing file, a folder given as a file, a full disk, a denied permission.
USER_ERRORS = (ValueError, OSError, ImportError)


@dataclass(frozen=True)
class Command:
    """One ``liftinv`` subcommand."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: Registered subcommands, in the order they appear in ``liftinv --help``.
COMMANDS: dict[str, Command] = {}


def register(command: Command) -> Command:
    """Add ``command`` to :data:`COMMANDS`; a name may be registered only once."""
    if command.name in COMMANDS:
        raise ValueError(f"register: a subcommand named {command.name!r} is already registered")
    COMMANDS[command.name] = command
    return command


# --------------------------------------------------------------------------------------------
# liftinv info
# --------------------------------------------------------------------------------------------


def _configure_info(parser: argparse.ArgumentParser) -> None:
    """``info`` takes no arguments."""


def _run_info(args: argparse.Namespace) -> int:
    import torch

    status = 0
    print(f"liftinv {__version__}")
    cuda = torch.version.cuda or "none"
    print(f"torch {torch.__version__} (CUDA build: {cuda})")
    try:
        import deepinv
    except Exception as exc:  # a broken install is exactly what `info` should reveal
        print(f"deepinv NOT IMPORTABLE: {type(exc).__name__}: {exc}")
        status = 1
    else:
        print(f"deepinv {getattr(deepinv, '__version__', 'unknown')}")
    if torch.cuda.is_available():
        print(f"device cuda ({torch.cuda.get_device_name(0)})")
    else:
        print("device cpu")
    print(f"threads {torch.get_num_threads()}")
    return status


register(
    Command(
        "info",
        "print the liftinv, torch and deepinv versions, the default device and the thread count",
        _configure_info,
        _run_info,
    )
)


# --------------------------------------------------------------------------------------------
# liftinv train / denoise / train-deblur / deblur / invert / bench
# --------------------------------------------------------------------------------------------

from liftinv import bench as _bench  # noqa: E402  (no heavy imports at module level)
from liftinv.deblurring import cli as _deblurring  # noqa: E402
from liftinv.denoising import cli as _denoising  # noqa: E402
from liftinv.inversion import cli as _inversion  # noqa: E402

register(Command("train", "train a denoiser (lifted Bregman BCD, ISGM or backprop) and save a checkpoint",
                 _denoising.configure_train, _denoising.run_train))
register(Command("denoise", "denoise an image file with the shipped pretrained denoisers (--sigma) or a trained "
                            "checkpoint (--checkpoint)",
                 _denoising.configure_denoise, _denoising.run_denoise))
register(Command("train-deblur", "train the unrolled deblurring network (lifted BCD, ISGM or backprop)",
                 _deblurring.configure_train_deblur, _deblurring.run_train_deblur))
register(Command("deblur", "deblur an image (unrolled net, PnP-HQS with a denoiser checkpoint, or Wiener/TV/RL)",
                 _deblurring.configure_deblur, _deblurring.run_deblur))
register(Command("invert", "recover a network's input from its layer-L features (lifted or gradient inversion)",
                 _inversion.configure_invert, _inversion.run_invert))
register(Command("bench", "run a benchmark (liftinv bench denoise|deblur|invert|scale)", _bench.configure, _bench.run))


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``liftinv train: error: argument --lr: ...``) ending in a
    pointer to ``--help``, instead of the whole usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per entry of :data:`COMMANDS`."""
    parser = _Parser(
        prog="liftinv",
        description="Inverse-problems imaging with networks trained by lifted Bregman "
        "block-coordinate descent.",
    )
    parser.add_argument("--version", action="version", version=f"liftinv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS.values():
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``liftinv`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    ``--help`` and ``--version`` return 0; bad arguments print the usage and the error on stderr
    and return 2; no subcommand prints the help on stderr and returns 2.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    tune_cpu_allocator()  # large CPU tensors reuse their memory between steps
    return report_errors(f"liftinv {getattr(args, '_command', args.command)}", lambda: run(args))


def report_errors(label: str, run: Callable[[], int | None]) -> int:
    """``run()``'s exit status, with the errors of ``liftinv``: one line on stderr, ``LABEL: error:
    ...``, with status 2 for an :class:`~liftinv.utils.checks.OptionError`, 1 for :data:`USER_ERRORS`
    and 130 for Ctrl-C; ``label`` names the command (``liftinv train``, ``demos/denoising.py``).
    liftinv's own warnings while it runs are ``note:`` lines (:func:`warnings_as_notes`)."""
    try:
        with warnings_as_notes():
            return int(run() or 0)
    except OptionError as exc:
        print(f"{label}: error: {exc} (see `{label} --help`)", file=sys.stderr)
        return 2
    except USER_ERRORS as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__  # one line
        print(f"{label}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"{label}: interrupted" + (f"; {exc}" if str(exc) else ""), file=sys.stderr)
        return 130


@contextlib.contextmanager
def warnings_as_notes():
    """Inside: a ``UserWarning`` or ``RuntimeWarning`` raised by liftinv's own code (an input image
    whose alpha channel is dropped, an inversion whose estimate does not explain the features) is
    printed as one ``note: ...`` line, like the commands' other notes, once; other warnings are
    shown as usual.  The Python API keeps its warnings."""
    import os
    import warnings

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    seen: set[str] = set()
    with warnings.catch_warnings():
        show = warnings.showwarning

        def note(message, category, filename, lineno, file=None, line=None):
            if not (issubclass(category, (UserWarning, RuntimeWarning))
                    and os.path.abspath(filename).startswith(package)):
                return show(message, category, filename, lineno, file, line)
            text = " ".join(str(message).split())
            if text not in seen:
                seen.add(text)
                print(f"note: {text}")

        warnings.showwarning = note
        yield


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
