"""Networks and degradations by name: what a checkpoint needs to rebuild its run.

Every checkpoint stores an architecture dictionary ``{"name": ..., ...}`` and a task dictionary
``{"task": ..., ...}`` (noise level, kernel ...).  The task package that owns a name builds the
network or the deepinv ``Physics`` from it.  The tables below name those builders by module path
(imported on use), so that a command can load any checkpoint (``liftinv deblur`` runs PnP with a
denoiser checkpoint) without one task package importing another.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import torch

from ..checkpoint import load_checkpoint, load_weights
from ..utils.checks import resolve_device

#: architecture name -> "module:function" that builds it from the architecture dictionary
BUILDERS = {
    "dfb": "liftinv.denoising.models:build_denoiser",
    "dfb-inertial": "liftinv.denoising.models:build_denoiser",
    "sccp": "liftinv.denoising.models:build_denoiser",
    "dncnn": "liftinv.denoising.models:build_denoiser",
    "unrolled-deblur": "liftinv.deblurring.models:build_deblurrer",
    "autoencoder": "liftinv.inversion.autoencoder:build_autoencoder",
}


#: task name -> "module:function" building its deepinv Physics from the task dictionary and a
#: device; ``None``: the task has no physics (the autoencoder's input is its own target)
PHYSICS = {
    "denoising": "liftinv.denoising.task:physics",
    "deblurring": "liftinv.deblurring.task:physics",
    "autoencoder": None,
}


#: ``--lam`` rule name -> "module:function" giving a network's per-layer penalty weights
PENALTY_RULES = {
    "balanced": "liftinv.deblurring.task:balanced_weights",
}


def _load(table: dict, name, kind: str):
    """The function a table names (``None`` where the table says none)."""
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; known: {sorted(table)}")
    if table[name] is None:
        return None
    module, function = table[name].split(":")
    return getattr(import_module(module), function)


def make_physics(task: dict, device="cpu"):
    """The deepinv ``Physics`` of a task dictionary on ``device``, its noise model with its own
    generator (seed it per call: ``physics(x, seed=...)``); ``None`` for a task without one
    (the autoencoder: the input is its own target)."""
    builder = _load(PHYSICS, task.get("task"), "task")
    return None if builder is None else builder(task, torch.device(device))


def build_network(arch: dict, *, device=None, seed: int | None = None) -> torch.nn.Module:
    """The network described by ``arch`` on ``device`` (``None``: CUDA when available); with
    ``seed``, torch's generator is seeded first so the initial weights are reproducible."""
    builder = _load(BUILDERS, arch.get("name"), "architecture")
    if seed is not None:
        torch.manual_seed(seed)
    return builder(arch).to(resolve_device(device))


def load_network(path: str | Path, device=None) -> tuple[torch.nn.Module, dict]:
    """The trained network saved in the checkpoint ``path`` and the checkpoint itself."""
    device = resolve_device(device)
    ckpt = load_checkpoint(path, map_location=device)
    net = build_network(ckpt["arch"], device=device)
    load_weights(net, ckpt["arch"], ckpt)
    return net, ckpt


def penalty_weights(rule: str, network) -> list[float]:
    """The hidden layers' penalty weights of ``network`` by the named rule (``--lam balanced``)."""
    return _load(PENALTY_RULES, rule, "penalty-weight rule")(network)
