"""Train a denoiser on patches with fresh Gaussian noise, by lifted BCD or by backprop.

One function, :func:`train_denoiser`, serves the command line, the benchmark and
the demo, so every trainer sees the same patches, the same noise model (deepinv's
``GaussianNoise``), the same loss and the same budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import deepinv as dinv
import torch

from ..checkpoint import load_checkpoint, load_weights, save_checkpoint
from ..data import extract_patches
from ..distributed import rank, rank_device
from ..lifting import LiftedProblem
from ..models.network import LiftedNetwork
from ..solvers import BCD, ISGM, Backprop, History, fit
from .models import build_denoiser, default_arch

TRAINERS = ("lifted", "isgm", "backprop")


def make_solver(trainer: str, network: torch.nn.Module, *, lr: float = 1e-3, aux_iters: int = 1,
                lam: float = 1.0, order: str = "backward", layer_batching: bool = False, lipschitz_every: int = 1):
    """The solver of a trainer name: lifted Bregman BCD, ISGM, or backprop (Adam).

    Lifted trainers sweep the auxiliaries from the last layer to the first (the loss
    signal crosses the network in one sweep) and give the hidden penalties the
    weight ``lam`` (1, the papers' choice; on the DFB-PNN, 90-second runs scored
    27.41 dB with 1 and 27.27 dB with 10 at sigma 25/255).  ``order='even-odd'`` with
    ``layer_batching`` updates the independent layers together instead (see :class:`BCD`).
    ``lipschitz_every``: steps between refreshes of the auxiliary step sizes; 1 (exact) is
    free on the DFB-PNN, whose map norms are closed-form (281 against 289 ms a step with 10),
    and at Adam's lr 8e-3 a 600-s run ended at 27.75 dB against 27.12 with 10.
    """
    if trainer == "backprop":
        return Backprop(network, lr=lr)
    if trainer not in TRAINERS:
        raise ValueError(f"unknown trainer {trainer!r}; choose one of {TRAINERS}")
    if not isinstance(network, LiftedNetwork):
        raise ValueError(f"{type(network).__name__} is not a lifted network; train it with trainer='backprop'")
    common = dict(weight_update="adam", lr=lr, aux_iters=aux_iters, order=order, layer_batching=layer_batching,
                  monitor_every=50, lipschitz_every=lipschitz_every)  # monitoring costs ~1.5 steps
    if trainer == "isgm":
        return ISGM(LiftedProblem(network, lam=lam), tau=1.0, inner_iters=2, **common)
    return BCD(LiftedProblem(network, lam=lam), **common)


def noisy_batches(sigma: float, device: torch.device) -> Callable:
    """``batch_transform`` for :func:`fit`: input = clean + N(0, sigma^2), target = clean."""

    def transform(x, y, gen):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        noise = dinv.physics.GaussianNoise(sigma=sigma, rng=torch.Generator(device).manual_seed(seed))
        return noise(x), y

    return transform


def training_patches(images, *, patch: int = 40, stride: int = 20, max_patches: int | None = None,
                     seed: int = 0) -> torch.Tensor:
    """Grid patches of the training images, augmented by a random flip/rotation each."""
    patches = extract_patches(images, patch, stride=stride, mode="grid", augment=True, seed=seed)
    if max_patches is not None and patches.shape[0] > max_patches:
        idx = torch.randperm(patches.shape[0], generator=torch.Generator().manual_seed(seed))[:max_patches]
        patches = patches[idx]
    return patches


def train_denoiser(
    model: str = "dfb",
    trainer: str = "lifted",
    *,
    sigma: float,
    images,
    arch: dict | None = None,
    patch: int = 40,
    stride: int = 20,
    budget: float | None = None,
    epochs: int | None = None,
    batch_size: int = 32,
    lr: float = 1e-3,
    aux_iters: int = 1,
    lam: float = 1.0,
    device: str | torch.device | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[dict, torch.nn.Module], bool | None] | None = None,
    max_patches: int | None = None,
):
    """Train ``model`` with ``trainer`` on noisy patches of ``images`` at noise ``sigma``.

    Stops after ``budget`` training seconds and/or ``epochs`` epochs.  With
    ``checkpoint``, the weights, architecture, settings, optimizer state and
    history are saved (atomically) after every epoch; ``resume=True`` continues an
    interrupted run from that file until the budget is spent (from the last completed
    epoch; the shuffling restarts from ``seed``).  ``callback(record, network)`` runs
    after every epoch, outside the timed region.

    Inside a ``torch.distributed`` group (``liftinv train --nproc N`` or ``torchrun``)
    each process trains on its shard of the patches with ``batch_size / N`` of them per
    step and rank 0 writes the checkpoint; see :func:`~liftinv.solvers.fit`.

    Returns ``(network, history)``.
    """
    device = rank_device(device)
    channels = int(images[0].shape[0])
    arch = dict(arch) if arch is not None else default_arch(model, channels=channels, patch=patch)
    torch.manual_seed(seed)
    network = build_denoiser(arch).to(device)
    solver = make_solver(trainer, network, lr=lr, aux_iters=aux_iters, lam=lam)
    settings = dict(model=arch["name"], trainer=trainer, sigma=sigma, patch=patch, stride=stride,
                    budget=budget, epochs=epochs, batch_size=batch_size, lr=lr, aux_iters=aux_iters, lam=lam,
                    seed=seed, device=str(device))
    patches = training_patches(images, patch=patch, stride=stride, max_patches=max_patches, seed=seed)
    history = run_training(network, solver, arch, settings, patches, noisy_batches(sigma, device),
                           budget=budget, epochs=epochs, batch_size=batch_size, seed=seed,
                           checkpoint=checkpoint, resume=resume, progress=progress, callback=callback,
                           desc=f"{arch['name']}/{trainer}")
    return network, history


def run_training(network, solver, arch: dict, settings: dict, patches: torch.Tensor,
                 batch_transform: Callable, *, budget: float | None, epochs: int | None, batch_size: int,
                 seed: int, checkpoint: str | Path | None, resume: bool, progress: bool,
                 callback: Callable | None, desc: str) -> History:
    """The checkpointed training loop shared by the denoisers and the deblurring networks.

    Resumes from ``checkpoint`` when asked (weights, solver state, history), trains with
    :func:`~liftinv.solvers.fit` on ``patches`` degraded by ``batch_transform``, and writes
    the checkpoint atomically after every epoch (rank 0 only in data-parallel training).
    """
    history = History()
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, map_location=next(network.parameters()).device)
        load_weights(network, arch, state)
        if state.get("solver") is not None:
            solver.load_state_dict(state["solver"])
        history = History(state.get("history", []))
        if isinstance(network, LiftedNetwork):
            network.refresh(n_iter=30)

    def on_epoch(record):
        if checkpoint is not None and rank() == 0:  # data parallel: one rank writes
            save_checkpoint(checkpoint, arch=arch, network=network, solver=solver.state_dict(),
                            settings=settings, history=list(history))
        return callback(record, network) if callback is not None else None

    return fit(solver, patches, patches, epochs=epochs, time_budget=budget, batch_size=batch_size,
               seed=seed, progress=progress, callback=on_epoch, desc=desc,
               batch_transform=batch_transform, history=history, eval_train=False)
