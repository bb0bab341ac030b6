r"""Per-sample storage of the auxiliaries between visits (true lifted BCD, ``aux=KeptAux()``).

Memory: the hidden states :math:`x_1,\dots,x_{L-1}` of every sample,

.. math::
    M_\text{keep} = n\,b\sum_{l=1}^{L-1}\prod(\text{state\_shape}_l)\ \text{bytes}

for :math:`n` samples (this process's shard) and :math:`b` bytes per number (4 in
float32), plus one ``bool`` per sample.  A DFB-PNN with :math:`K` layers of :math:`F`
channels on :math:`P\times P` patches keeps :math:`4KFP^2` bytes per patch: 8.2 MB for
:math:`K=20, F=64, P=40`, so ten thousand patches need 82 GB.  Hence three places to keep
them:

* ``'device'``: next to the network (fastest; GPU memory on CUDA);
* ``'pinned'``: page-locked CPU memory, copied to the device per mini-batch
  (asynchronously on CUDA);
* ``'mmap'``: a memory-mapped file (``torch.from_file``), so the operating system pages
  them between disk and RAM and a data set larger than the host's memory still trains
  (the file is created in ``path``, default the temporary folder, and unlinked at once, so
  nothing is left behind).

Rebuilding them by a forward pass per mini-batch (``aux=ForwardAux()``) needs no storage.

A step's working memory comes on top.  With :math:`u = sb\,FP^2` bytes (one hidden state
of a mini-batch of :math:`s` patches),

.. math::
    M_\text{lifted step} \approx (3K + 5)\,u,\qquad M_\text{backprop step} \approx (2K + 5)\,u :

backprop keeps each layer's input and pre-activation for its backward pass; the lifted
step keeps the states, their cached pre-activations and, while it takes the weight
gradients, one more pre-activation per layer.  Kept auxiliaries add :math:`M_\text{keep}`.
``benchmarks/step_memory.py`` measures both peaks against these formulas.
"""

from __future__ import annotations

import math
import os
import tempfile

import torch

from ..models.network import LiftedNetwork

STORAGES = ("device", "pinned", "mmap")


def aux_bytes(network: LiftedNetwork, n_samples: int, dtype: torch.dtype = torch.float32) -> int:
    """:math:`M_\\text{keep}`: bytes that ``n_samples`` samples' kept auxiliaries occupy."""
    per_sample = sum(math.prod(shape) for shape in network.state_shapes[1:-1])
    return n_samples * (per_sample * torch.empty((), dtype=dtype).element_size() + 1)


class AuxMemory:
    """Hidden states of every sample, filled on first visit and updated after each step."""

    def __init__(self, network: LiftedNetwork, n_samples: int, storage: str = "device",
                 path: str | os.PathLike | None = None) -> None:
        if storage not in STORAGES:
            raise ValueError(f"aux storage must be one of {STORAGES}, got {storage!r}")
        p = next(network.parameters())
        self.device, self.storage = p.device, storage
        shapes = [(n_samples,) + tuple(shape) for shape in network.state_shapes[1:-1]]
        self.files: list[str] = []
        if storage == "device":
            self.buffers = [torch.zeros(s, device=p.device, dtype=p.dtype) for s in shapes]
        elif storage == "pinned":
            pin = torch.cuda.is_available()  # page-locking needs a CUDA driver
            self.buffers = [torch.zeros(s, dtype=p.dtype, pin_memory=pin) for s in shapes]
        else:
            os.makedirs(path, exist_ok=True) if path is not None else None
            self.buffers = []
            for s in shapes:
                fd, fname = tempfile.mkstemp(prefix="liftinv-aux-", suffix=".bin", dir=path)
                os.close(fd)
                t = torch.from_file(fname, shared=True, size=math.prod(s), dtype=p.dtype)
                self.buffers.append(t.view(s))
                try:  # the mapping outlives the name: the space is freed when the buffer is
                    os.remove(fname)
                except OSError:  # pragma: no cover - e.g. Windows keeps open files
                    self.files.append(fname)
        self.seen = torch.zeros(n_samples, dtype=torch.bool)

    @property
    def numel(self) -> int:
        return sum(math.prod(b.shape) for b in self.buffers)

    @property
    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self.buffers) + self.seen.numel()

    def _host(self, index: torch.Tensor) -> torch.Tensor:
        return index if self.storage == "device" else index.cpu()

    def has(self, index: torch.Tensor) -> bool:
        """True when every sample of ``index`` has stored auxiliaries."""
        return bool(self.seen[index.cpu()].all())

    def load(self, index: torch.Tensor) -> list[torch.Tensor]:
        idx = self._host(index)
        out = [b[idx] for b in self.buffers]
        if self.storage == "device":
            return out
        if self.device.type == "cuda" and self.storage == "pinned":
            out = [t.pin_memory() for t in out]
        return [t.to(self.device, non_blocking=True) for t in out]

    @torch.no_grad()
    def store(self, index: torch.Tensor, states: list[torch.Tensor]) -> None:
        idx = self._host(index)
        for b, s in zip(self.buffers, states):
            b[idx] = s if self.storage == "device" else s.to("cpu")
        self.seen[index.cpu()] = True

    def close(self) -> None:
        """Drop the buffers (and any memory-mapped file the system could not unlink early)."""
        self.buffers = []
        for f in self.files:  # pragma: no cover - only where open files cannot be unlinked
            try:
                os.remove(f)
            except OSError:
                pass
        self.files = []
