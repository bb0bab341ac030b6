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

import hashlib
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..checkpoint import check_history, load_checkpoint, load_weights, save_checkpoint
from ..data import extract_patches
from ..distributed import rank, rank_device, world_size
from ..lifting import LiftedProblem
from ..models.network import LiftedNetwork
from ..solvers import BCD, ISGM, Adam, Backprop, History, fit
from ..solvers.bcd import matched_conflicts
from ..solvers.fit import TrainingDiverged, failed_on_non_finite, finite_weights
from ..solvers.strategies import as_aux, as_weights
from .config import TrainConfig
from .registry import build_network, make_physics, penalty_weights


def make_solver(network: torch.nn.Module, config: TrainConfig, **options):
    """The solver of ``config.trainer`` for ``network``.

    ``'backprop'``: Adam through autograd.  ``'lifted'``: lifted Bregman BCD with Adam on the
    weight blocks, the auxiliaries swept from the last hidden layer to the first (the loss signal
    crosses the network in one sweep) with the matched sweep and the forward-anchored weight
    gradient (``gradient='matched'``: back-propagation's gradient to first order for any graph of
    skips and shared operators, measured not to drift where the gradient at the auxiliaries did,
    docs/maths.md and docs/results.md), the auxiliary blocks taking BCD's default step there, small
    mirror steps (``aux_step='mirror'``, ``step_scale=0.01``: on the clip layers of the unrolled
    networks four in-place passes, fewer than the prox step's five, and a weight gradient whose
    cosine with back-propagation's is 0.9999 where the prox step's lets gradient through saturated
    units, 0.993-0.998; over 1000 steps at sigma 15 it is -0.01 dB at equal steps and +0.09 at equal
    time against the prox step's +0.01 / +0.07, and after 10,000 steps +0.01 / +0.00 on three seeds
    where the prox step was -0.04 / -0.02; docs/results.md rows [ab]-[ad]), the hidden penalties
    weighted by ``config.lam`` (a name is a rule of ``registry.PENALTY_RULES``).
    ``'isgm'``: the same with the ISGM proximal term (``tau = 1``, two inner iterations).  The
    lifted objective is monitored every 50 steps (it costs about a forward pass).  ``options``
    override these :class:`~liftinv.solvers.BCD` settings (e.g. ``order='even-odd'``,
    ``aux=KeptAux(...)``); where they (or ``config.aux_iters > 1``) leave no single backward sweep
    from the forward pass, the weight gradient is the plain forward-anchored one
    (``gradient='forward'``) unless ``gradient`` is given.
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
    if "gradient" not in options:
        names = dict(common, aux=as_aux(common.get("aux", "forward")).name, weights=as_weights(common["weights"]).name)
        common["gradient"] = "forward" if matched_conflicts(names) else "matched"
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


#: Settings a resumed run may change (to extend it, or to move it to another device).
RESUMABLE_CHANGES = ("budget", "epochs", "device")


def _kernel_summary(kernel, other) -> str:
    """A blur kernel (nested lists) in words that tell it from ``other``: its size, and where the
    sizes agree its spread (the standard deviation of its mass about its centre, in pixels)."""
    k = torch.tensor(kernel, dtype=torch.float64)
    size = "x".join(str(n) for n in k.shape)
    if torch.tensor(other).shape != k.shape or k.dim() != 2 or not k.sum() > 0:
        return f"a {size} kernel"
    w = k / k.sum()
    ys, xs = torch.meshgrid(*(torch.arange(n, dtype=torch.float64) for n in k.shape), indexing="ij")
    cy, cx = (w * ys).sum(), (w * xs).sum()
    spread = float(((w * ((ys - cy) ** 2 + (xs - cx) ** 2)).sum() / 2).sqrt())
    return f"a {size} kernel of spread {spread:.3g} px"


def _file_identity(path) -> tuple | None:
    """What tells one version of a file from another (inode, size, modification time), ``None``
    when there is no file."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _differences(saved: dict, now: dict, skip=()) -> list[str]:
    def show(key, value, other):
        if value is None:
            return "none"
        if key == "sigma" and isinstance(value, float):  # as many digits as tell the two apart
            digits = next((d for d in (4, 8, 12) if not isinstance(other, float)
                           or f"{value * 255:.{d}g}" != f"{other * 255:.{d}g}"), 17)
            return f"{value * 255:.{digits}g}/255"
        return _kernel_summary(value, other) if key == "kernel" and other is not None else repr(value)

    return [f"{k} {show(k, now.get(k), saved.get(k))} now vs {show(k, saved.get(k), now.get(k))} in the checkpoint"
            for k in sorted(set(saved) | set(now)) if k not in skip and saved.get(k) != now.get(k)]


def data_fingerprint(images) -> dict:
    """What identifies a training set in a checkpoint: the number of images and a checksum of
    their shapes and pixels (so that a resumed run can refuse other images)."""
    digest = hashlib.sha256()
    for im in images:
        t = im.detach().to("cpu", torch.float32).contiguous()
        digest.update(repr(tuple(t.shape)).encode())
        digest.update(t.numpy().tobytes())
    return {"images": len(images), "sha256": digest.hexdigest()[:16]}


def check_resumable(state: dict, path, *, arch: dict, task: dict, config: TrainConfig,
                    data: dict | None = None) -> None:
    """``ValueError`` unless the checkpoint ``state`` (read from ``path``) continues the run of
    ``arch``, ``task`` and ``config``: the same task (noise level, kernel ...), architecture and
    settings, except those of :data:`RESUMABLE_CHANGES`, and (given ``data``, a
    :func:`data_fingerprint`, and held by the checkpoint) the same training images; and a
    ``history`` that a run can continue (:func:`~liftinv.checkpoint.check_history`)."""
    remedy = "; give the same options to continue it, or start a new run (--overwrite on the command line)"
    check_history(state, path)  # a resumed run counts its epochs, steps and seconds from it
    if state.get("task") not in (None, task):
        saved_task = state["task"].get("task")
        if saved_task != task.get("task"):
            raise ValueError(f"--resume: {str(path)!r} was trained for {saved_task!r}, not {task.get('task')!r}"
                             + remedy)
        raise ValueError(f"--resume: {str(path)!r} was trained for another task: "
                         + ", ".join(_differences(state["task"], task)) + remedy)
    if data is not None and state.get("data") not in (None, data):
        saved = state["data"]
        raise ValueError(f"--resume: {str(path)!r} was trained on other images ({saved.get('images')} images, "
                         f"checksum {saved.get('sha256')}; now {data['images']}, {data['sha256']}); give the "
                         "same --data and --color to continue it, or start a new run (--overwrite)")
    diff = _differences(state["arch"], arch)
    if state.get("config") is not None:
        saved = {**TrainConfig.field_defaults(), **state["config"]}  # older files lack newer settings
        diff += _differences(saved, config.to_dict(), skip=RESUMABLE_CHANGES)
    if diff:
        raise ValueError(f"--resume: {str(path)!r} holds another run: " + ", ".join(diff) + remedy)


class _Watched:
    """A solver for :func:`fit` whose every step is checked for NaN/Inf and reported to
    ``on_step(stats, seconds, error)``; everything else is the wrapped solver's."""

    def __init__(self, solver, on_step: Callable) -> None:
        self._solver, self._on_step = solver, on_step

    def __getattr__(self, name):
        return getattr(self._solver, name)

    def step_batch(self, x0, y, index=None):
        t0 = time.perf_counter()
        try:
            stats = self._solver.step_batch(x0, y, index)
        except (ValueError, RuntimeError) as exc:  # a diverged step often fails on a NaN step size
            if not failed_on_non_finite(self._solver.network, exc):
                raise
            self._on_step(None, time.perf_counter() - t0, exc)
            raise  # on_step raised already; not reached
        self._on_step(stats, time.perf_counter() - t0, None)
        return stats


def train(network: torch.nn.Module, physics, images, config: TrainConfig, *, arch: dict, task: dict,
          solver=None, target: Callable | None = None, checkpoint: str | Path | None = None,
          resume: bool = False, overwrite: bool = False, progress: bool = True, callback: Callable | None = None,
          desc: str | None = None, save_every_steps: int | None = None,
          save_every_seconds: float | None = None, stop_on_nan: bool = True) -> History:
    """Train ``network`` (in place) to invert ``physics`` on patches of ``images``.

    ``physics``: a deepinv ``Physics`` on the network's device whose noise model has an ``rng``
    (or ``None``: the clean patch is the input).  ``arch`` rebuilds the network
    (:func:`~liftinv.restoration.registry.build_network`); ``task`` describes the degradation
    (JSON-able, e.g. ``{"task": "denoising", "sigma": 0.098}``) and is saved with the config.
    ``solver`` overrides :func:`make_solver`; ``target(patches)`` maps the clean patches to the
    network's targets (default: the patches).  With ``checkpoint`` the run is saved atomically
    after every epoch, and also every ``save_every_steps`` steps and/or ``save_every_seconds``
    seconds of wall clock when given (outside the timed steps: writing spends no budget).  A
    checkpoint written inside an epoch, or at the end of a run stopped there by its budget, ends
    its history with a record marked ``partial`` (:func:`~liftinv.solvers.fit`), from which a
    resumed run takes that epoch's remaining steps.  ``resume=True`` continues the run saved
    there (weights, solver state, the warm starts of the step-size power iterations, history; the
    budget counts the time already spent: the same steps as one uninterrupted run); it refuses a
    missing file and a different task, architecture or settings (:func:`check_resumable`).  An
    existing ``checkpoint`` is refused unless ``resume`` or ``overwrite`` is given (re-running a
    cell must not replace a long run).  A lifted network must be built for the patches' shape (the
    images' channels, ``config.patch``), checked before any step.
    ``callback(record, network)`` runs after every epoch outside the timed region.

    Training stops with :class:`TrainingDiverged` at the first step whose loss or weights are
    NaN or Inf; no checkpoint is written after it, so the last good one is kept
    (``stop_on_nan=False`` trains on regardless when there is no checkpoint, e.g. in a
    learning-rate sweep that records divergence).

    Inside a ``torch.distributed`` group each process trains on its shard of the patches and
    rank 0 writes the checkpoint.  Returns the :class:`~liftinv.solvers.History`.
    """
    if checkpoint is not None and not resume and not overwrite and Path(checkpoint).exists():
        raise ValueError(f"checkpoint {str(checkpoint)!r} already exists: resume=True continues that run, "
                         "overwrite=True replaces it")
    patches = training_patches(images, config)
    shape, built = tuple(patches.shape[1:]), getattr(network, "in_shape", None)
    if isinstance(network, LiftedNetwork) and shape != tuple(built):  # (was "input x0 has shape" at step 1)
        raise ValueError(f"the training patches are {shape} (C, H, W: the images' {shape[0]} channel(s), "
                         f"config.patch {config.patch}) but the network ({arch.get('name')}) was built for "
                         f"{tuple(built)}: build it for the images' channels and the same patch, e.g. "
                         f"default_arch(name, channels={shape[0]}, patch={config.patch})")
    fingerprint = data_fingerprint(images)
    targets = patches if target is None else target(patches)
    if solver is None:  # monitor at least once per epoch: no epoch record without an objective
        world = world_size()
        steps = -(-(patches.shape[0] // world) // max(config.batch_size // world, 1))
        solver = make_solver(network, config, monitor_every=max(1, min(50, steps)))
    history = History()
    saved: dict = {}  # the last good checkpoint on disk: {"epoch", "iterations", "seconds"}
    if resume:
        if checkpoint is None or not Path(checkpoint).is_file():
            raise FileNotFoundError(f"resume: there is no checkpoint {str(checkpoint)!r} to continue; "
                                    "start a new run without resuming")
        state = load_checkpoint(checkpoint, map_location=next(network.parameters()).device)
        check_resumable(state, checkpoint, arch=arch, task=task, config=config, data=fingerprint)
        load_weights(network, arch, state)
        if state.get("solver") is not None:
            solver.load_state_dict(state["solver"])
        history = History(check_history(state, checkpoint))
        warm = state.get("warm_starts")
        if isinstance(network, LiftedNetwork) and not (warm and network.load_warm_starts(warm)):
            network.refresh(n_iter=30)  # no saved warm starts (an older checkpoint): from cold
        saved.update(history.final)
    done = {k: history.final.get(k, 0) for k in ("epoch", "iterations", "seconds")}
    done["epoch_steps"] = history.final.get("epoch_steps", 0) if history.final.get("partial") else 0
    clock = {"last_save": time.monotonic(), "steps": 0}
    on_disk = {"id": _file_identity(checkpoint) if checkpoint is not None else None}  # what this run left there

    def save(mid_epoch: bool) -> None:
        """The checkpoint of the history so far; ``mid_epoch``: between the steps of an epoch, its
        record marked ``partial`` (the steps taken in the epoch after ``epoch``)."""
        records = list(history)
        if mid_epoch:
            records = [r for r in records if not r.get("partial")] + [{**done, "partial": True}]
        if rank() == 0:  # data parallel: one rank writes
            if _file_identity(checkpoint) != on_disk["id"]:
                raise ValueError(f"checkpoint {str(checkpoint)!r} was written by another process since this run "
                                 "started or last saved (two runs with one output?); this run stops rather than "
                                 "replace it: give each run its own output")
            extra = {"warm_starts": network.warm_starts()} if isinstance(network, LiftedNetwork) else {}
            save_checkpoint(checkpoint, arch=arch, network=network, solver=solver.state_dict(),
                            config=config.to_dict(), task=task, data=fingerprint, history=records, **extra)
            on_disk["id"] = _file_identity(checkpoint)
        saved.clear()
        saved.update(done)
        clock.update(last_save=time.monotonic(), steps=0)

    def on_step(stats, seconds, error) -> None:
        done["iterations"] += 1
        done["epoch_steps"] += 1
        done["seconds"] += seconds
        bad = "step" if error is not None else None
        if bad is None and stats and not all(math.isfinite(float(v)) for v in stats.values()):
            bad = "loss"
        if bad is None and not finite_weights(network):
            bad = "weights"
        if bad is not None:
            raise _diverged(bad, error) from error
        clock["steps"] += 1

    def save_if_due() -> None:  # after a step, outside fit's timed region: saving spends no budget
        if (save_every_steps and clock["steps"] >= save_every_steps) or (
                save_every_seconds and time.monotonic() - clock["last_save"] >= save_every_seconds):
            save(mid_epoch=True)

    def _diverged(bad: str, error) -> TrainingDiverged:
        what = {"loss": "the loss became NaN or Inf", "weights": "the weights became NaN or Inf",
                "step": f"the step failed on non-finite values ({error})"}[bad]
        if checkpoint is None:
            kept = "nothing was saved (no checkpoint)"
        elif saved:
            kept = (f"the last good checkpoint {str(checkpoint)!r} (epoch {saved.get('epoch', 0)}, "
                    f"{saved.get('iterations', 0)} steps) is kept")
        else:
            kept = f"nothing was written to {str(checkpoint)!r}"
        return TrainingDiverged(f"training stopped at step {done['iterations']} (epoch {done['epoch'] + 1}): "
                                f"{what}, the run diverged; {kept}; try a smaller learning rate "
                                f"(now {config.lr:g}; --lr on the command line)")

    def on_epoch(record):  # an epoch's record, or the partial one of a run stopped by its budget
        done.update({k: record[k] for k in ("epoch", "iterations", "seconds")})
        done["epoch_steps"] = record.get("epoch_steps", 0) if record.get("partial") else 0
        if checkpoint is not None:
            save(mid_epoch=False)
        return callback(record, network) if callback is not None else None

    stop_on_nan = stop_on_nan or checkpoint is not None
    watched = _Watched(solver, on_step) if stop_on_nan else solver
    return fit(watched, patches, targets, epochs=config.epochs, time_budget=config.budget, stop_on_nan=stop_on_nan,
               batch_size=config.batch_size, seed=config.seed, progress=progress, callback=on_epoch,
               desc=desc or f"{arch.get('name', 'network')}/{config.trainer}",
               batch_transform=None if physics is None else degraded_batches(physics), history=history,
               eval_train=False, lr_schedule=config.lr_schedule,
               on_step=save_if_due if checkpoint is not None and (save_every_steps or save_every_seconds) else None)


def train_network(arch: dict, task: dict, images, config: TrainConfig, **kwargs) -> tuple[torch.nn.Module, History]:
    """Build the network of ``arch`` (seeded by ``config.seed``, on ``config.device``) and the
    physics of ``task`` there, and :func:`train` it; ``kwargs`` go to :func:`train`.
    Returns ``(network, history)``."""
    if "kernel" in arch and "kernel" in task:  # a network with a built-in blur must see data made by it
        ka, kt = torch.tensor(arch["kernel"]), torch.tensor(task["kernel"])
        if ka.shape != kt.shape or not torch.allclose(ka, kt, atol=1e-6):
            raise ValueError(f"the network's blur kernel ({tuple(ka.shape)}) is not the task's ({tuple(kt.shape)}, "
                             "or other values): build both from one kernel (default_deblur_arch(k) and "
                             "describe(k, sigma))")
    device = rank_device(config.device)
    network = build_network(arch, device=device, seed=config.seed)
    return network, train(network, make_physics(task, device), images, config, arch=arch, task=task, **kwargs)


def train_job(job: dict) -> None:
    """One training process of a command (module level, so that ``--nproc`` can spawn it).

    ``job``: ``arch``, ``task``, ``config`` (a dictionary), ``images``, ``output``, ``resume``,
    ``progress`` and optionally ``save_every_steps`` / ``save_every_seconds``.  Rank 0 prints what
    was trained."""
    config = TrainConfig.from_dict(job["config"])
    # the command line has refused an existing file already, unless --overwrite or --resume
    _, history = train_network(job["arch"], job["task"], job["images"], config, checkpoint=job["output"],
                               overwrite=True,
                               resume=job["resume"], progress=job["progress"],
                               save_every_steps=job.get("save_every_steps"),
                               save_every_seconds=job.get("save_every_seconds"))
    if rank() == 0:
        final = history.final
        task = job["task"]
        what = task["task"] + (f" at sigma {task['sigma'] * 255:g}/255" if "sigma" in task else "")
        print(f"trained {job['arch']['name']} for {what} ({config.summary()}): "
              f"{final.get('seconds', 0):.0f} s, {final.get('iterations', 0)} steps; checkpoint: {job['output']}")
