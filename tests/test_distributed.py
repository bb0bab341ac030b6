"""Data-parallel training over torch.distributed (2 CPU processes, gloo).

The property: R processes, each stepping on its part of a global mini-batch, end with the
same weights as one process stepping on the whole mini-batch, for lifted BCD (Lipschitz
steps and Adam, kept auxiliaries), ISGM and backprop (DistributedDataParallel).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch
from torch.multiprocessing.spawn import ProcessExitedException

from liftinv import MLP, LiftedProblem
from liftinv.distributed import launch, shard
from liftinv.models import CNN
from liftinv.solvers import BCD, ISGM, Adam, Backprop, KeptAux, ProxGrad, fit

WORLD = 2
STEPS = 3
GLOBAL_BATCH = 16


def _data(kind: str):
    gen = torch.Generator().manual_seed(1)
    if kind == "cnn":
        x = torch.randn(48, 1, 8, 8, generator=gen)
        return x, torch.randn(48, 3, generator=gen)
    return torch.randn(48, 6, generator=gen), torch.randn(48, 3, generator=gen)


def _solver(name: str):
    torch.manual_seed(0)
    if name == "cnn-bcd":
        net = CNN(in_shape=(1, 8, 8), channels=[4, 4], out_features=3, last_activation="identity")
        return BCD(LiftedProblem(net), weights=ProxGrad(momentum="nesterov"), order="even-odd", aux_iters=2)
    net = MLP([6, 8, 8, 3], activation="relu")
    if name == "bcd-prox":
        return BCD(LiftedProblem(net), weights=ProxGrad(), aux=KeptAux(), lipschitz_every=1)
    if name == "bcd-adam":
        return BCD(LiftedProblem(net), weights=Adam(lr=1e-2), order="backward")
    if name == "isgm":
        return ISGM(LiftedProblem(net), tau=0.5, inner_iters=2)
    return Backprop(net, lr=1e-2)


def _batches(n: int):
    """The global mini-batches: every step sees indices from a fixed permutation."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(5))
    return [perm[(k * GLOBAL_BATCH) % n :][:GLOBAL_BATCH] for k in range(STEPS)]


def _train(name: str, rank: int = 0, world: int = 1) -> dict:
    x, y = _data("cnn" if name.startswith("cnn") else "mlp")
    solver = _solver(name)
    solver.prepare(x.shape[0])
    for idx in _batches(x.shape[0]):
        part = idx[rank::world]  # this rank's samples of the global batch
        solver.step_batch(x[part], y[part], part)
    return {k: v.detach().clone() for k, v in solver.network.state_dict().items()}


SOLVERS = ["bcd-prox", "bcd-adam", "isgm", "backprop", "cnn-bcd"]


def _worker(out: str) -> None:
    import torch.distributed as dist

    states = {name: _train(name, dist.get_rank(), dist.get_world_size()) for name in SOLVERS}
    torch.save(states, f"{out}.{dist.get_rank()}")


def _worker_fit(out: str) -> None:
    import torch.distributed as dist

    x, y = _data("mlp")
    solver = _solver("bcd-adam")
    history = fit(solver, x, y, epochs=3, batch_size=8, progress=False, x_test=x, y_test=y)
    torch.save({"state": solver.network.state_dict(), "history": list(history)}, f"{out}.{dist.get_rank()}")


def _launch_gloo(fn, out: str) -> None:
    """``launch`` on 2 gloo processes, once more if a process was killed by a signal.

    CI saw one rank abort ("terminate called without an active exception", SIGABRT) in
    gloo's native code once in many runs; it never reproduced here (30 runs of this file, up to 3 at once).
    A Python error in a worker (ProcessRaisedException) is not retried, nor is a second
    signal: those fail the test."""
    try:
        launch(fn, WORLD, out, backend="gloo")
    except ProcessExitedException:
        launch(fn, WORLD, out, backend="gloo")


@pytest.fixture(scope="module")
def two_process_states(tmp_path_factory):
    """Every solver trained once by 2 gloo processes (one launch for all of them)."""
    out = str(tmp_path_factory.mktemp("dist") / "state")
    _launch_gloo(_worker, out)
    return [torch.load(f"{out}.{r}") for r in range(WORLD)]


@pytest.mark.parametrize("name", SOLVERS)
def test_two_processes_match_one(name, two_process_states):
    reference = _train(name)
    for r, states in enumerate(two_process_states):
        for key, ref in reference.items():
            torch.testing.assert_close(states[name][key], ref, rtol=1e-5, atol=1e-6,
                                       msg=lambda m, key=key, r=r: f"{name}: {key} on rank {r}: {m}")
    changed = [not torch.equal(v, _solver(name).network.state_dict()[k]) for k, v in reference.items()]
    assert any(changed)  # the steps did move the weights


def test_fit_data_parallel_agrees_across_ranks(tmp_path):
    out = str(tmp_path / "fit")
    _launch_gloo(_worker_fit, out)
    runs = [torch.load(f"{out}.{r}") for r in range(WORLD)]
    for key in runs[0]["state"]:
        torch.testing.assert_close(runs[0]["state"][key], runs[1]["state"][key])
    hist = runs[0]["history"]
    assert hist == runs[1]["history"] or all(  # every rank reports the global figures
        a["test_loss"] == pytest.approx(b["test_loss"]) for a, b in zip(hist, runs[1]["history"])
    )
    assert hist[-1]["test_loss"] < hist[0]["test_loss"]
    assert hist[-1]["iterations"] == 3 * (48 // WORLD) // (8 // WORLD)


def test_shard_is_a_no_op_in_one_process():
    x = torch.arange(10)
    (s,) = shard(x)
    assert torch.equal(s, x)


def test_gpu_backend_routes_cpu_tensors_to_gloo(monkeypatch):
    """On GPUs the default process group must serve the CPU scalars too (NCCL alone refuses
    them: 'No backend type associated with device type cpu')."""
    import torch.distributed as dist
    from torch.distributed.distributed_c10d import BackendConfig

    from liftinv import distributed

    assert BackendConfig(dist.Backend(distributed.GPU_BACKEND)).get_device_backend_map() == {
        "cpu": "gloo", "cuda": "nccl"}
    seen = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    class Done:  # the process context of workers that have finished
        processes = []

        def join(self):
            return True

    def spawn(fn, args, nprocs, join=True):
        seen.update(backend=args[2])
        return Done()

    monkeypatch.setattr(torch.multiprocessing, "spawn", spawn)
    launch(print, 2)
    assert seen["backend"] == distributed.GPU_BACKEND
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # fewer GPUs than processes: CPU only
    launch(print, 2)
    assert seen["backend"] == "gloo"


def _worker_waits(folder: str) -> None:
    Path(folder, f"{os.getpid()}.pid").touch()
    time.sleep(120)


def test_an_interrupted_launch_stops_its_workers(tmp_path):
    """Ctrl-C sent to the launching process alone (as a job scheduler may) ends the workers too, in
    seconds, instead of the launcher waiting for them to finish their run."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    def alarm_once_started():
        while len(list(tmp_path.glob("*.pid"))) < WORLD:
            time.sleep(0.05)
        signal.alarm(1)

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        threading.Thread(target=alarm_once_started, daemon=True).start()
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            launch(_worker_waits, WORLD, str(tmp_path))
        assert time.monotonic() - t0 < 60
    finally:
        signal.signal(signal.SIGALRM, previous)
    pids = [int(p.stem) for p in tmp_path.glob("*.pid")]
    assert len(pids) == WORLD
    for pid in pids:  # ended and reaped by the launcher
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
