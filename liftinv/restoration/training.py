"""One training function for every restoration task: a deepinv ``Physics``, a network, a config.

Denoising is ``Denoising(GaussianNoise(sigma))``, deblurring a circular blur plus Gaussian noise,
the autoencoder no physics at all (the input is its own target).  :func:`train` draws grid
patches of the training images, degrades every mini-batch afresh inside the timed region
(``physics(x, seed=...)``, seeded from the run's generator so two runs see the same noise),
trains with the solver named by the config (:func:`make_solver`) under
:func:`~liftinv.solvers.fit`, and writes an atomic, resumable checkpoint after every epoch that
holds the architecture, the weights, the solver state, the :class:`TrainConfig`, the task's own
description (noise level, kernel ...) and the history.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..checkpoint import load_checkpoint, load_weights, save_checkpoint
from ..data import extract_patches
from ..distributed import rank, rank_device
from ..lifting import LiftedProblem
from ..models.network import LiftedNetwork
from ..solvers import BCD, ISGM, Adam, Backprop, History, fit
from .config import TrainConfig
from .registry import build_network, make_physics, penalty_weights


def make_solver(network: torch.nn.Module, config: TrainConfig, **options):
    """The solver of ``config.trainer`` for ``network``.

    ``'backprop'``: Adam through autograd.  ``'lifted'``: lifted Bregman BCD with Adam on the
    weight blocks, the auxiliaries swept from the last hidden layer to the first (the loss signal
    crosses the network in one sweep), the hidden penalties weighted by ``config.lam`` (a name is
    a rule of ``registry.PENALTY_RULES``).  ``'isgm'``: the same with the ISGM proximal term
    (``tau = 1``, two inner iterations).  The lifted objective is monitored every 50 steps (it
    costs about a forward pass).  ``options`` override these :class:`~liftinv.solvers.BCD`
    settings (e.g. ``order='even-odd'``, ``aux=KeptAux(...)``).
    """
    if config.trainer == "backprop":
        return Backprop(network, lr=config.lr)
    if not isinstance(network, LiftedNetwork):
        raise ValueError(f"{type(network).__name__} is not a lifted network; train it with trainer='backprop'")
    lam = config.lam
    if isinstance(lam, str):  # a named rule, e.g. 'balanced'
        lam = penalty_weights(lam, network)
    problem = LiftedProblem(network, lam=lam)
    common = dict(weights=Adam(lr=config.lr), aux_iters=config.aux_iters, order="backward", monitor_every=50,
                  lipschitz_every=config.lipschitz_every)
    common.update(options)
    if config.trainer == "isgm":
        return ISGM(problem, tau=1.0, inner_iters=2, **common)
    return BCD(problem, **common)


def training_patches(images, config: TrainConfig) -> torch.Tensor:
    """Grid patches of the training images, each augmented by a random flip/rotation, at most
    ``config.max_patches`` of them (a seeded random subset)."""
    patches = extract_patches(images, config.patch, stride=config.patch_stride, mode="grid", augment=True,
                              seed=config.seed)
    if config.max_patches is not None and patches.shape[0] > config.max_patches:
        gen = torch.Generator().manual_seed(config.seed)
        patches = patches[torch.randperm(patches.shape[0], generator=gen)[: config.max_patches]]
    return patches


def degraded_batches(physics) -> Callable:
    """``batch_transform`` for :func:`fit`: input ``physics(clean)`` with noise seeded from the
    run's generator, target the clean batch."""

    def transform(x, y, gen):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        return physics(x, seed=seed), y

    return transform


def train(network: torch.nn.Module, physics, images, config: TrainConfig, *, arch: dict, task: dict,
          solver=None, target: Callable | None = None, checkpoint: str | Path | None = None,
          resume: bool = False, progress: bool = True, callback: Callable | None = None,
          desc: str | None = None) -> History:
    """Train ``network`` (in place) to invert ``physics`` on patches of ``images``.

    ``physics``: a deepinv ``Physics`` on the network's device whose noise model has an ``rng``
    (or ``None``: the clean patch is the input).  ``arch`` rebuilds the network
    (:func:`~liftinv.restoration.registry.build_network`); ``task`` describes the degradation
    (JSON-able, e.g. ``{"task": "denoising", "sigma": 0.098}``) and is saved with the config.
    ``solver`` overrides :func:`make_solver`; ``target(patches)`` maps the clean patches to the
    network's targets (default: the patches).  With ``checkpoint`` the run is saved atomically
    after every epoch; ``resume=True`` continues the run saved there (weights, solver state,
    history; the budget counts the time already spent) and refuses a different task.
    ``callback(record, network)`` runs after every epoch outside the timed region.

    Inside a ``torch.distributed`` group each process trains on its shard of the patches and
    rank 0 writes the checkpoint.  Returns the :class:`~liftinv.solvers.History`.
    """
    solver = make_solver(network, config) if solver is None else solver
    history = History()
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, map_location=next(network.parameters()).device)
        if state.get("task") not in (None, task):
            raise ValueError(f"--resume: {str(checkpoint)!r} was trained for {state['task']}, not {task}")
        load_weights(network, arch, state)
        if state.get("solver") is not None:
            solver.load_state_dict(state["solver"])
        history = History(state.get("history", []))
        if isinstance(network, LiftedNetwork):
            network.refresh(n_iter=30)

    def on_epoch(record):
        if checkpoint is not None and rank() == 0:  # data parallel: one rank writes
            save_checkpoint(checkpoint, arch=arch, network=network, solver=solver.state_dict(),
                            config=config.to_dict(), task=task, history=list(history))
        return callback(record, network) if callback is not None else None

    patches = training_patches(images, config)
    targets = patches if target is None else target(patches)
    return fit(solver, patches, targets, epochs=config.epochs, time_budget=config.budget,
               batch_size=config.batch_size, seed=config.seed, progress=progress, callback=on_epoch,
               desc=desc or f"{arch.get('name', 'network')}/{config.trainer}",
               batch_transform=None if physics is None else degraded_batches(physics), history=history,
               eval_train=False)


def train_network(arch: dict, task: dict, images, config: TrainConfig, **kwargs) -> tuple[torch.nn.Module, History]:
    """Build the network of ``arch`` (seeded by ``config.seed``, on ``config.device``) and the
    physics of ``task`` there, and :func:`train` it; ``kwargs`` go to :func:`train`.
    Returns ``(network, history)``."""
    device = rank_device(config.device)
    network = build_network(arch, device=device, seed=config.seed)
    return network, train(network, make_physics(task, device), images, config, arch=arch, task=task, **kwargs)


def train_job(job: dict) -> None:
    """One training process of a command (module level, so that ``--nproc`` can spawn it).

    ``job``: ``arch``, ``task``, ``config`` (a dictionary), ``images``, ``output``, ``resume``,
    ``progress``.  Rank 0 prints what was trained."""
    config = TrainConfig.from_dict(job["config"])
    _, history = train_network(job["arch"], job["task"], job["images"], config, checkpoint=job["output"],
                               resume=job["resume"], progress=job["progress"])
    if rank() == 0:
        final = history.final
        task = job["task"]
        what = task["task"] + (f" at sigma {task['sigma'] * 255:g}/255" if "sigma" in task else "")
        print(f"trained {job['arch']['name']} for {what} ({config.summary()}): "
              f"{final.get('seconds', 0):.0f} s, {final.get('iterations', 0)} steps; checkpoint: {job['output']}")
