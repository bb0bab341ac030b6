"""The training loop shared by every solver: epochs, budget, monitoring, progress.

``fit`` drives any object with ``network``, ``problem``, ``prepare(n)`` and
``step_batch(x0, y, index)`` (:class:`BCD`, :class:`ISGM`, :class:`Backprop`), so
lifted and backprop training are run and reported identically.  After every
epoch it records, outside the timed region:

* ``lifted``: mean over the epoch's mini-batches of the lifted objective reached
  by the solver (for backprop, the batch loss);
* ``violation``: mean constraint violation :math:`\\frac1s\\sum_l\\|x_l - \\sigma(v_l)\\|^2`;
* ``loss``: mean over the same monitored mini-batches of the true network loss (a forward pass
  with the weights of that step), which a lifted trainer must keep falling while it lowers
  ``lifted``: a falling ``lifted`` with a rising ``violation`` and ``loss`` is the relaxation
  drifting away from the network;
* ``train_loss`` / ``test_loss``: the true network loss by a forward pass over the
  whole set, and any extra ``metrics`` (e.g. accuracy);
* ``seconds`` (training time only) and ``iterations``.

A run whose monitored loss, weights or training loss become NaN or Inf stops with
:class:`TrainingDiverged`, which names the step and the remedy (a smaller learning rate).
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from ..distributed import all_reduce_scalars, rank, rank_device, shard, world_size
from ..utils.checks import check_number, check_tensor, check_working_dtype
from ..utils.schedules import lr_factor, run_fraction, set_learning_rate

#: epoch e (from 1) shuffles and draws its noise from seed + 7919 rank + EPOCH_SEED_STRIDE (e - 1):
#: the first epoch draws what fit drew before per-epoch seeds (2026-12-07), later ones differ
EPOCH_SEED_STRIDE = 1_000_003


class History(list):
    """A list of per-epoch records (dicts) with small conveniences."""

    def column(self, key: str) -> list:
        return [r.get(key) for r in self]

    @property
    def final(self) -> dict:
        return self[-1] if self else {}

    def to_json(self) -> str:
        return json.dumps(list(self), indent=2)


class TrainingDiverged(ValueError):
    """Training stopped at the first non-finite loss or weight (the restoration trainer keeps its last
    good checkpoint)."""


#: The statistics of a monitored step that must stay finite.
MONITORED = ("lifted", "violation", "loss")

#: Words of an error raised by a step that met non-finite values (a NaN step size, a NaN prox input).
NAN_WORDS = re.compile(r"\b(nan|inf)\b", re.IGNORECASE)


def finite_weights(network: torch.nn.Module) -> bool:
    """Whether every floating parameter of ``network`` is finite (one reduction)."""
    params = [p.detach() for p in network.parameters() if p.is_floating_point()]
    return not params or bool(torch.stack([torch.isfinite(p).all() for p in params]).all())


def failed_on_non_finite(network: torch.nn.Module, exc: Exception) -> bool:
    """Whether a training step's error ``exc`` comes from divergence: the weights are no longer finite, or
    the step met non-finite values of its own making (a NaN step size; not the input checks' message
    about the data, which are checked before training)."""
    message = str(exc)
    return not finite_weights(network) or (bool(NAN_WORDS.search(message))
                                           and "contains NaN or Inf values" not in message)


def _diverged(solver, step: int, epoch: int, what: str) -> TrainingDiverged:
    lr = solver.param_groups[0].get("lr") if getattr(solver, "param_groups", None) else None
    remedy = (f"a smaller learning rate (lr={lr:g})" if lr is not None
              else "a smaller step_scale (ProxGrad(step_scale=...))")
    return TrainingDiverged(f"training diverged at step {step} (epoch {epoch}): {what}; try {remedy}, "
                            "or data scaled to values of order 1")


@torch.no_grad()
def evaluate(problem, x, y, *, batch_size: int = 256, metrics: dict[str, Callable] | None = None) -> dict:
    """Mean network loss (and ``metrics(output, y)`` averaged per sample) over a data set."""
    net = problem.network
    like = next(net.parameters())
    was_training = net.training
    net.eval()
    totals = {"loss": 0.0, **{name: 0.0 for name in metrics or {}}}
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size].to(like.device, like.dtype)
        yb = y[start : start + batch_size].to(like.device, like.dtype)
        losses, out = problem.sample_losses(xb, yb)
        totals["loss"] += float(losses.sum())
        for name, fn in (metrics or {}).items():
            totals[name] += float(fn(out, yb)) * xb.shape[0]
    net.train(was_training)
    *sums, n = all_reduce_scalars([*totals.values(), x.shape[0]])  # each rank holds a shard
    return {k: t / n for k, t in zip(totals, sums)}


def accuracy(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of samples whose arg-max matches the one-hot (or soft) target."""
    return (output.argmax(1) == y.argmax(1)).float().mean()


def fit(
    solver,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    *,
    epochs: int | None = None,
    time_budget: float | None = None,
    batch_size: int = 64,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    metrics: dict[str, Callable] | None = None,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    progress: bool = True,
    callback: Callable[[dict], bool | None] | None = None,
    desc: str | None = None,
    batch_transform: Callable | None = None,
    history: History | None = None,
    eval_train: bool = True,
    lr_schedule: str = "constant",
    stop_on_nan: bool = True,
    on_step: Callable[[], None] | None = None,
) -> History:
    """Train with ``solver`` for ``epochs`` epochs and/or ``time_budget`` seconds.

    Parameters
    ----------
    solver: a :class:`BCD`, :class:`ISGM` or :class:`Backprop`.
    x_train, y_train: the training set (any device and floating dtype; moved once to ``device`` and
        the network's dtype).
    epochs, time_budget: stop after this many epochs or training seconds (the
        budget is checked after every mini-batch; evaluation time is not counted).
    batch_size: mini-batch size; the order is reshuffled every epoch from ``seed`` and the
        epoch's number (so a run continued with ``history`` draws what one uninterrupted run
        would have drawn).
        In data-parallel training (an initialised ``torch.distributed`` group of
        ``world`` processes) it is the global batch: each rank trains on its shard of the
        samples (see :func:`liftinv.distributed.shard`) with ``batch_size / world`` of
        them per step, the solvers sum the ranks' gradients, and only rank 0 shows
        progress.
    x_test, y_test: an optional held-out set, evaluated after every epoch.
    metrics: extra ``name -> fn(output, y)`` evaluated with the loss (a dict, checked before training).
    seed: seeds torch and the shuffling, so two runs give the same history.
    device: ``'auto'`` keeps the network where it is; ``None`` picks CUDA when
        available; otherwise a device to move the network to before training (a rank's
        own GPU in data-parallel training).
    callback: called with each epoch record; returning ``False`` stops training.
    batch_transform: ``(x, y, generator) -> (x, y)`` applied to every mini-batch inside
        the timed region, e.g. fresh noise on the input of a denoiser.
    history: a :class:`History` to continue (resuming: its seconds, iterations and
        epochs count towards the budget); records are appended to it in place.  A run stopped
        by its budget inside an epoch ends with a record marked ``partial`` whose ``epoch`` is
        the last *complete* epoch and ``epoch_steps`` the steps taken in the next one; a run
        continued from it takes that epoch's remaining steps, on the batches and noise one
        uninterrupted run would have drawn (the partial record is replaced by the epoch's).
    eval_train: evaluate the loss over the whole training set after every epoch.
    lr_schedule: the learning rate over the run (:data:`~liftinv.utils.schedules.LR_SCHEDULES`:
        ``'constant'``, or ``'cosine'`` from the solver's rate down to 0 at the end of the budget
        or the epochs), set before every step from the fraction of the run done.
    stop_on_nan: stop with :class:`TrainingDiverged` at the first monitored step whose objective, or
        epoch whose weights or training loss, is NaN or Inf (``False``: train on, e.g. in a sweep of
        learning rates that records where training diverges; a step that cannot run on non-finite
        values, as a lifted step's NaN step size, stops the run either way).
    on_step: called after every step that does not end the run, outside the timed region (e.g. a
        checkpoint every few steps, whose writing must not spend the budget).

    Returns the :class:`History` of epoch records.
    """
    if epochs is None and time_budget is None:
        raise ValueError("fit needs epochs or time_budget")
    if epochs is not None:
        check_number(epochs, "epochs", minimum=1, integer=True)
    if time_budget is not None:
        check_number(time_budget, "time_budget", strict=True)
    check_number(batch_size, "batch_size", minimum=1, integer=True)
    if metrics is not None and not (isinstance(metrics, dict) and all(callable(f) for f in metrics.values())):
        raise TypeError(f"metrics: expected a dict of name -> fn(output, y), got {type(metrics).__name__}; name "
                        "each function: metrics={'psnr': fn}")
    for name, fn in (("callback", callback), ("batch_transform", batch_transform), ("on_step", on_step)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name}: expected a function, got {type(fn).__name__}")
    if not hasattr(solver, "step_batch"):
        raise TypeError(f"fit trains with a solver (BCD, ISGM, Backprop), got {type(solver).__name__}: e.g. "
                        "fit(BCD(LiftedProblem(net)), x, y, ...)")
    like = next(solver.network.parameters())
    check_working_dtype(like, "fit")
    for name, t in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)):
        if t is not None:
            check_tensor(t, name)  # finite: a NaN in the data is named here, not taken for divergence later
            if not t.is_floating_point() and like.is_floating_point():
                raise TypeError(f"{name} is {t.dtype}; the network computes in {like.dtype}: convert it, scaled as "
                                "the network expects (e.g. 8-bit images to [0, 1])")
    if x_train.shape[0] != y_train.shape[0]:
        raise ValueError(f"x_train has {x_train.shape[0]} samples but y_train has {y_train.shape[0]}")
    if x_train.shape[0] == 0:
        raise ValueError("x_train has no samples")
    if (x_test is None) != (y_test is None):
        raise ValueError("give both x_test and y_test, or neither")
    if x_test is not None and x_test.shape[0] != y_test.shape[0]:
        raise ValueError(f"x_test has {x_test.shape[0]} samples but y_test has {y_test.shape[0]}")
    lr_factor(lr_schedule, 0.0)  # an unknown name fails here, before any work
    if lr_schedule != "constant" and any("lr" not in g for g in solver.param_groups):
        raise ValueError(f"lr_schedule={lr_schedule!r} schedules a learning rate, and this solver's weight "
                         "step has none (ProxGrad takes 1/L steps): use weights=Adam(...) or "
                         "lr_schedule='constant'")
    net = solver.network
    if device != "auto":
        net.to(rank_device(device))
    dev = next(net.parameters()).device
    # one sample of each set scored now: a wrong shape is named before any work (not the training set
    # when a batch_transform makes the steps' batches: the first step checks those, and calling the
    # user's function once more here would be a side effect of its own)
    checked = [("x_test and y_test", x_test, y_test)]
    if batch_transform is None:
        checked.insert(0, ("x_train and y_train", x_train, y_train))
    for names, xs, ys in checked:
        if xs is not None and xs.shape[0]:
            xb, yb = xs[:1].to(dev, like.dtype), ys[:1].to(dev, like.dtype)
            try:
                solver.problem.check_batch(xb, yb)  # shapes, range: the loss alone would broadcast a wrong y
                evaluate(solver.problem, xb, yb)
            except (ValueError, RuntimeError) as exc:
                raise ValueError(f"{names}: the network cannot score them ({exc})") from exc
    world = world_size()
    if world > 1:  # data parallel: this rank trains on its shard, batch_size / world per step
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} is not divisible by the {world} processes")
        batch_size //= world
        x_train, y_train = shard(x_train, y_train)
        if x_test is not None:
            x_test, y_test = x_test[rank() :: world], y_test[rank() :: world]
    if x_train.shape[0] % batch_size == 1 and net.training and any(  # (this rank's shard and batch)
            isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        raise ValueError(f"{x_train.shape[0]} samples in batches of {batch_size} leave a last batch of one sample, "
                         "on which the network's batch normalisation cannot train: choose another batch_size")
    torch.manual_seed(seed)
    gen = torch.Generator()  # seeded per epoch and rank (below): a resumed run draws what it would have
    # the data moved once to the network's device and floating dtype (float64 data for a float32 network)
    x_train, y_train = x_train.to(dev, like.dtype), y_train.to(dev, like.dtype)
    n = x_train.shape[0]
    solver.prepare(n)
    progress = progress and rank() == 0

    history = History() if history is None else history
    last = history.final
    elapsed, iters, epoch = last.get("seconds", 0.0), last.get("iterations", 0), last.get("epoch", 0)
    skip = int(last.get("epoch_steps", 0)) if last.get("partial") else 0  # steps of epoch + 1 done already
    n_batches = -(-n // batch_size)
    tty = sys.stderr.isatty()
    bar = tqdm(
        total=epochs if epochs is not None else round(time_budget),
        unit="epoch" if epochs is not None else "s",
        initial=epoch if epochs is not None else min(round(elapsed), round(time_budget)),
        desc=desc or type(solver).__name__,
        disable=not progress,
        leave=False,
        mininterval=1.0 if tty else 30.0,  # keep logs short: a line every 30 s at most,
        miniters=None if tty else 1,  # and no adaptive skipping that would hide a slow run
        # seconds advance in fractions: show whole ones
        bar_format=None if epochs is not None
        else "{l_bar}{bar}| {n:.0f}/{total_fmt} s [{elapsed}<{remaining}{postfix}]",
    )
    stop = (epochs is not None and epoch >= epochs) or (time_budget is not None and elapsed >= time_budget)
    while not stop:
        epoch += 1
        gen.manual_seed(seed + 7919 * rank() + EPOCH_SEED_STRIDE * (epoch - 1))  # own shuffles and noise
        perm = torch.randperm(n, generator=gen).to(dev)
        lifted = viol = batch_loss = 0.0
        n_monitored = 0
        steps = 0  # of this epoch
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            if steps < skip:  # taken before the run was stopped: draw its noise again, do not train
                if batch_transform is not None:
                    batch_transform(x_train[idx], y_train[idx], gen)
                steps += 1
                continue
            if lr_schedule != "constant":
                done = run_fraction(seconds=elapsed, epoch_progress=epoch - 1 + start / n,
                                    time_budget=time_budget, epochs=epochs)
                set_learning_rate(solver, lr_factor(lr_schedule, done))
            t0 = time.perf_counter()
            xb, yb = x_train[idx], y_train[idx]
            if batch_transform is not None:
                xb, yb = batch_transform(xb, yb, gen)
            try:
                stats = solver.step_batch(xb, yb, idx)
            except (ValueError, RuntimeError) as exc:  # a diverged step often fails on a NaN step size
                if isinstance(exc, TrainingDiverged) or not failed_on_non_finite(net, exc):
                    raise
                raise _diverged(solver, iters + 1, epoch, f"the step failed on non-finite values ({exc})") from exc
            if stop_on_nan and stats and not all(math.isfinite(stats[k]) for k in MONITORED if k in stats):
                raise _diverged(solver, iters + 1, epoch, f"the monitored objective became NaN or Inf ({stats})")
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            dt = time.perf_counter() - t0
            if world > 1 and time_budget is not None:  # every rank must stop at the same step
                dt = all_reduce_scalars([dt], op="max")[0]
            elapsed += dt
            iters += 1
            steps += 1
            if stats:  # solvers may monitor only every few steps
                lifted += stats["lifted"]
                viol += stats["violation"]
                batch_loss += stats.get("loss", float("nan"))
                n_monitored += 1
            if epochs is None:
                bar.update(min(dt, max(bar.total - bar.n, 0)))
            if time_budget is not None and elapsed >= time_budget:
                stop = True
                break
            if on_step is not None:  # (the step that ends the run goes to the epoch's record instead)
                on_step()
        skip = 0
        complete = steps == n_batches
        record = {
            "epoch": epoch if complete else epoch - 1,
            "iterations": iters,
            "seconds": elapsed,
            "lifted": lifted / n_monitored if n_monitored else float("nan"),
            "violation": viol / n_monitored if n_monitored else float("nan"),
            "loss": batch_loss / n_monitored if n_monitored else float("nan"),
        }
        if stop_on_nan and not finite_weights(net):
            raise _diverged(solver, iters, epoch, "the weights became NaN or Inf")
        if eval_train:
            train_eval = evaluate(solver.problem, x_train, y_train, metrics=metrics)
            record.update({f"train_{k}": v for k, v in train_eval.items()})
            if stop_on_nan and not math.isfinite(record["train_loss"]):
                raise _diverged(solver, iters, epoch, f"the training loss is {record['train_loss']}")
        if x_test is not None:
            test_eval = evaluate(solver.problem, x_test, y_test, metrics=metrics)
            record.update({f"test_{k}": v for k, v in test_eval.items()})
        if not complete:  # stopped by the budget inside the epoch
            record.update(partial=True, epoch_steps=steps)
        while history and history[-1].get("partial"):  # the epoch's record replaces its partial one
            history.pop()
        history.append(record)
        if epochs is not None and complete:
            bar.update(1)
            stop = stop or epoch >= epochs
        postfix = {"objective": f"{record['lifted']:.4g}"} if n_monitored else {}  # never objective=nan
        if eval_train:
            postfix["loss"] = f"{record['train_loss']:.4g}"
        if postfix:
            bar.set_postfix(postfix, refresh=tty)  # in a log, printed with the next timed update
        if callback is not None and callback(record) is False:
            stop = True
    bar.close()
    return history
