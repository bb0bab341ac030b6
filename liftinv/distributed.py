r"""Data parallelism over ``torch.distributed``: each process owns a shard of the samples.

Lifted training is data parallel by construction: the auxiliaries of a sample live with
that sample, and the auxiliary sweeps touch no other sample.  With :math:`R` processes,
rank :math:`r` owns the samples :math:`i \equiv r \pmod R` (and their auxiliaries); a
global mini-batch of :math:`S` samples is the union of the ranks' local batches of
:math:`s_r` samples, and a weight-block gradient of the mean objective is

.. math::
    \nabla_\theta\frac1S\sum_{i\in\text{batch}} P(x^i, v^i(\theta))
    = \sum_r \underbrace{\frac1S\sum_{i\in\text{batch}_r}\nabla_\theta P(x^i, v^i(\theta))}_{\text{rank } r},

one all-reduce (sum) of the ranks' contributions, each already divided by the global
:math:`S`.  The Lipschitz constant of a weight block, :math:`\|J\|^2/S` with
:math:`J^*J = \sum_r J_r^*J_r`, is estimated by a power iteration whose every product is
all-reduced, so all ranks take bitwise the same step as one process on the whole batch
would (up to the order of floating-point sums).

Everything here is a no-op in a single process, so the solvers call it unconditionally.
The launch helpers start ``nproc`` local processes (gloo on CPU; on GPUs NCCL for CUDA tensors
and gloo for CPU ones) or join a group started by ``torchrun`` (``WORLD_SIZE``/``RANK`` in the
environment).
"""

from __future__ import annotations

import gc
import os
import signal
import socket
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist

from .utils.allocator import tune_cpu_allocator

__all__ = [
    "is_distributed", "rank", "world_size", "all_reduce_sum_", "all_reduce_scalars",
    "broadcast_module_", "shard", "launch", "init_from_env", "rank_device",
]


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


@torch.no_grad()
def all_reduce_sum_(tensors: Sequence[torch.Tensor]) -> None:
    """Sum ``tensors`` over the ranks, in place, with one collective on a flat buffer."""
    if not is_distributed() or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def all_reduce_scalars(values: Sequence[float], op: str = "sum", device=None) -> list[float]:
    """``values`` summed (``op='sum'``) or maximised (``'max'``) over the ranks."""
    if not is_distributed():
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return t.tolist()


@torch.no_grad()
def broadcast_module_(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank (identical starting points)."""
    if not is_distributed():
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src)


def shard(x: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """This rank's samples ``i = rank (mod world)``, every shard cut to the same length
    ``floor(n / world)`` (at most ``world - 1`` samples are left out), so that every rank
    runs the same number of steps with the same local batch size."""
    r, w = rank(), world_size()
    n = x.shape[0] // w
    if n == 0:
        raise ValueError(f"{x.shape[0]} samples cannot be shared among {w} processes")
    return tuple(t[r::w][:n] for t in (x, *tensors))


def rank_device(device: str | torch.device | None) -> torch.device:
    """The device of this rank: ``cuda:<local rank>`` when training on CUDA, else ``device``."""
    from .utils.checks import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda" and is_distributed():
        local = int(os.environ.get("LOCAL_RANK", rank() % max(torch.cuda.device_count(), 1)))
        return torch.device("cuda", local)
    return dev


#: the process group's backend on GPUs: NCCL serves only CUDA tensors, and some collectives
#: (step counts, losses, the scalars of :func:`all_reduce_scalars`) are on the CPU, so those go
#: through gloo in the same group
GPU_BACKEND = "cpu:gloo,cuda:nccl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(local_rank: int, nproc: int, port: int, backend: str, threads: int, fn: Callable, args: tuple) -> None:
    os.environ.update(LOCAL_RANK=str(local_rank), RANK=str(local_rank), WORLD_SIZE=str(nproc))
    tune_cpu_allocator()  # a fresh interpreter: the parent's malloc settings are not inherited
    torch.set_num_threads(threads)
    if "nccl" in backend:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=local_rank, world_size=nproc)
    try:
        fn(*args)
        # Tear down only when every rank is done, and after the objects that hold the group
        # (DistributedDataParallel's reducer) are gone: a rank that closes its connections
        # while a peer still uses them can abort that peer.
        gc.collect()
        dist.barrier()
    finally:
        dist.destroy_process_group()


def launch(fn: Callable, nproc: int, *args, backend: str | None = None, threads: int = 1) -> None:
    """Run ``fn(*args)`` in ``nproc`` local processes joined in one process group.

    ``backend`` defaults to :data:`GPU_BACKEND` (NCCL for CUDA tensors, gloo for the CPU
    ones) when CUDA is available with a GPU per process, and to gloo otherwise; each process
    uses ``threads`` torch threads.  ``fn`` must be picklable (a module-level function); a
    failure in any process raises here.  An interruption of this process (Ctrl-C sent to it
    alone, as a job scheduler may) stops the workers too before it propagates.
    """
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    if backend is None:
        backend = GPU_BACKEND if torch.cuda.is_available() and torch.cuda.device_count() >= nproc else "gloo"
    context = torch.multiprocessing.spawn(_worker, args=(nproc, _free_port(), backend, threads, fn, args),
                                          nprocs=nproc, join=False)
    try:
        while not context.join():
            pass
    except BaseException:
        for proc in context.processes:  # as Ctrl-C would: each worker ends its step and exits
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGINT)
        for proc in context.processes:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=10)
        raise


def init_from_env(backend: str | None = None) -> bool:
    """Join the process group described by ``torchrun``'s environment, if any.

    Returns True when this process is one of several (``WORLD_SIZE > 1``).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return is_distributed()
    if backend is None:
        backend = GPU_BACKEND if torch.cuda.is_available() else "gloo"
    if "nccl" in backend:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    return True
