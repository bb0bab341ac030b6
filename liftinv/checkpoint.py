"""Checkpoints: weights, architecture and training settings in one file, written atomically.

A checkpoint is a ``torch.save`` dictionary::

    {"format": "liftinv-checkpoint-1", "liftinv_version": ..., "arch": {"name": ..., ...},
     "state_dict": ..., "solver": <optimizer state or None>, "config": {...},
     "task": {...}, "history": [epoch records]}

It is written to a unique temporary file in the same folder, flushed and renamed
(:func:`~liftinv.utils.files.atomic_write`), so an interrupted write never leaves a
half-written file; ``config`` (the :class:`~liftinv.restoration.TrainConfig`), ``task``
(what the network restores: noise level, kernel ...) and ``history`` (seconds and
iterations so far) let a training run resume where it stopped.
"""

from __future__ import annotations

import math
import numbers
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .utils.files import atomic_write, check_input_file, plain_reason

FORMAT = "liftinv-checkpoint-1"


#: Extensions of the checkpoint files the command line writes.
CHECKPOINT_EXTENSIONS = frozenset({".pt", ".pth"})


def non_finite_weights(state_dict: dict) -> list[str]:
    """Names of the floating tensors of ``state_dict`` that hold NaN or Inf."""
    return [k for k, v in state_dict.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def save_checkpoint(path: str | Path, *, arch: dict, network: torch.nn.Module, **content: Any) -> Path:
    """Write a checkpoint atomically; ``content`` adds ``solver``, ``config``, ``task``, ``history``...

    Weights with NaN or Inf are refused (``ValueError``, the file at ``path`` is left as it was):
    no checkpoint of a diverged run replaces a good one."""
    state = network.state_dict()
    bad = non_finite_weights(state)
    if bad:
        raise ValueError(f"not writing checkpoint {str(path)!r}: the weights {bad[:3]} hold NaN or Inf")
    payload = {
        "format": FORMAT,
        "liftinv_version": __version__,
        "arch": dict(arch),
        "state_dict": state,
        **content,
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (clear errors otherwise: a missing
    file, a folder, a file that is no torch file, no liftinv checkpoint, or one without its
    architecture or weights)."""
    path = check_input_file(path, "checkpoint")
    try:  # weights_only: tensors and plain data only, so opening a file never runs code from it
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if plain_reason(path) is None and "GLOBAL" in str(err):  # a class or function, not plain data
            found = next((ln.strip() for ln in str(err).splitlines() if "GLOBAL" in ln), "")
            raise ValueError(f"checkpoint {str(path)!r} holds Python objects other than tensors and plain "
                             "data (numbers, strings, lists, dicts); liftinv does not unpickle those, since "
                             f"that could run code from the file: it was not written by liftinv ({found[:120]})"
                             ) from None
        raise ValueError(f"checkpoint {str(path)!r} could not be read: "
                         f"{plain_reason(path) or 'not a torch file, or a damaged one'}") from None
    except Exception as err:  # corrupted or not a torch file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        reason = plain_reason(path) or f"not a torch file, or a damaged one ({first[:120]})"
        raise ValueError(f"checkpoint {str(path)!r} could not be read: {reason}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a liftinv checkpoint (expected format {FORMAT!r})")
    arch = payload.get("arch")
    if not isinstance(arch, dict) or not isinstance(arch.get("name"), str):
        raise ValueError(f"checkpoint {str(path)!r} has no architecture ('arch' with a 'name'); "
                         "it was not written by liftinv: retrain it")
    if not isinstance(payload.get("state_dict"), dict):
        raise ValueError(f"checkpoint {str(path)!r} holds no weights ('state_dict'); retrain it")
    return payload


def require(checkpoint: dict, path: str | Path, *keys: str) -> dict:
    """``checkpoint`` when it holds every entry of ``keys`` as a dictionary (``'task'``,
    ``'config'`` ...), else a ``ValueError`` naming the file and what is missing."""
    missing = [k for k in keys if not isinstance(checkpoint.get(k), dict)]
    if missing:
        raise ValueError(f"checkpoint {str(path)!r} has no {' or '.join(repr(k) for k in missing)} settings "
                         "(what it was trained for and how); write it with liftinv train / train-deblur")
    return checkpoint


#: the command that uses a checkpoint trained for each task
TASK_COMMANDS = {"denoising": "liftinv denoise (or liftinv deblur, as the denoiser of PnP-HQS)",
                 "deblurring": "liftinv deblur", "autoencoder": "liftinv invert"}


def require_task(checkpoint: dict, path: str | Path, *tasks: str, wanted: str | None = None) -> dict:
    """``checkpoint`` when it was trained for one of ``tasks`` (``'denoising'``, ...), else a
    ``ValueError`` naming the file, what it holds (against ``wanted``, by default the tasks) and
    the command that takes it."""
    require(checkpoint, path, "task")
    task = checkpoint["task"].get("task")
    if task not in tasks:
        name = (checkpoint.get("arch") or {}).get("name", "?")
        use = TASK_COMMANDS.get(task)
        wanted = wanted or f"a network trained for {' or '.join(map(repr, tasks))}"
        raise ValueError(f"checkpoint {str(path)!r} holds a network trained for {task!r} ({name}), not "
                         f"{wanted}" + (f": use it with {use}" if use else ""))
    return checkpoint


def check_history(checkpoint: dict, path: str | Path) -> list[dict]:
    """The checkpoint's ``history`` (``[]`` when it has none) when it is what :func:`save_checkpoint`
    writes: a list of epoch records (dicts) whose ``epoch``, ``iterations`` (and ``epoch_steps``)
    are integers >= 0 and ``seconds`` a finite number >= 0; else a ``ValueError`` naming the file,
    the field and the record (a hand-edited or foreign file, which a resumed run cannot count on)."""
    history = checkpoint.get("history")
    if history is None and "history" not in checkpoint:
        return []
    remedy = "restore the file, or start a new run (overwrite=True, --overwrite on the command line)"
    if not isinstance(history, list):
        what = "None" if history is None else f"{type(history).__name__} {history!r:.60}"
        raise ValueError(f"checkpoint {str(path)!r}: its 'history' is {what}, not a list of epoch records "
                         f"(an edited file?); {remedy}")
    for i, record in enumerate(history):
        if not isinstance(record, dict):
            raise ValueError(f"checkpoint {str(path)!r}: 'history' record {i} is {type(record).__name__} "
                             f"{record!r:.60}, not an epoch record (a dict); {remedy}")
        for key in ("epoch", "iterations", "seconds", "epoch_steps"):
            if key not in record and key == "epoch_steps":
                continue
            value = record.get(key)
            integer = key != "seconds"
            good = (isinstance(value, numbers.Integral) if integer else isinstance(value, numbers.Real)) \
                and not isinstance(value, bool) and math.isfinite(value) and value >= 0
            if not good:
                kind = "an integer" if integer else "a finite number"
                raise ValueError(f"checkpoint {str(path)!r}: 'history' record {i} has {key} = {value!r:.60}, "
                                 f"expected {kind} >= 0 (an edited file?); {remedy}")
    return history


def load_weights(network: torch.nn.Module, arch: dict, checkpoint: dict) -> None:
    """Load the checkpoint's weights into ``network`` built from ``arch``.

    Raises ``ValueError`` naming the differences when the checkpoint holds another
    architecture, instead of a wall of missing/unexpected keys; the same when its weights do
    not fit its architecture (an edited file) or hold NaN or Inf (a run that diverged).
    Weights of another floating dtype than the network's (a float64 run loaded into a float32
    network) are converted by ``load_state_dict``; a ``UserWarning`` names both dtypes.
    """
    saved = checkpoint["arch"]
    if saved != dict(arch):
        diff = {k: (saved.get(k), arch.get(k)) for k in set(saved) | set(arch) if saved.get(k) != arch.get(k)}
        raise ValueError(
            "checkpoint architecture does not match the network: "
            + ", ".join(f"{k}: checkpoint {a!r} vs network {b!r}" for k, (a, b) in sorted(diff.items()))
        )
    state = checkpoint["state_dict"]
    bad = non_finite_weights(state)
    if bad:
        raise ValueError(f"the checkpoint's weights {bad[:3]} hold NaN or Inf (the run that wrote it diverged); "
                         "retrain with a smaller --lr")
    own = network.state_dict()
    dtypes = {(v.dtype, own[k].dtype) for k, v in state.items() if isinstance(v, torch.Tensor) and k in own
              and v.is_floating_point() and own[k].is_floating_point() and v.dtype != own[k].dtype}
    if dtypes:
        saved_dtype, net_dtype = sorted(dtypes, key=str)[0]
        lost = " (the extra precision is lost)" if torch.finfo(saved_dtype).bits > torch.finfo(net_dtype).bits else ""
        warnings.warn(f"the checkpoint's weights are {saved_dtype} but the network is {net_dtype}: they are "
                      f"converted to {net_dtype}{lost} and the network (a resumed run too) computes in "
                      f"{net_dtype}; to keep {saved_dtype}, convert the network before loading "
                      f"(net.to({saved_dtype}))", UserWarning, stacklevel=2)
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else ""
        raise ValueError(f"the checkpoint's weights do not fit its architecture {saved.get('name')!r} "
                         f"(an edited or foreign file: {detail[:200]})") from None
