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

from pathlib import Path
from typing import Any

import torch

from . import __version__
from .utils.files import atomic_write

FORMAT = "liftinv-checkpoint-1"


def save_checkpoint(path: str | Path, *, arch: dict, network: torch.nn.Module, **content: Any) -> Path:
    """Write a checkpoint atomically; ``content`` adds ``solver``, ``config``, ``task``, ``history``..."""
    payload = {
        "format": FORMAT,
        "liftinv_version": __version__,
        "arch": dict(arch),
        "state_dict": network.state_dict(),
        **content,
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (clear errors otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # corrupted or not a torch file
        raise ValueError(f"checkpoint {str(path)!r} could not be read: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a liftinv checkpoint (expected format {FORMAT!r})")
    return payload


def load_weights(network: torch.nn.Module, arch: dict, checkpoint: dict) -> None:
    """Load the checkpoint's weights into ``network`` built from ``arch``.

    Raises ``ValueError`` naming the differences when the checkpoint holds another
    architecture, instead of a wall of missing/unexpected keys.
    """
    saved = checkpoint["arch"]
    if saved != dict(arch):
        diff = {k: (saved.get(k), arch.get(k)) for k in set(saved) | set(arch) if saved.get(k) != arch.get(k)}
        raise ValueError(
            "checkpoint architecture does not match the network: "
            + ", ".join(f"{k}: checkpoint {a!r} vs network {b!r}" for k, (a, b) in sorted(diff.items()))
        )
    network.load_state_dict(checkpoint["state_dict"])
