"""Kept auxiliaries (true lifted BCD): the three storages give the same training run."""

from __future__ import annotations

import pytest
import torch

from liftinv import MLP, LiftedProblem
from liftinv.solvers import BCD, KeptAux, fit
from liftinv.solvers.aux_memory import AuxMemory, aux_bytes


def _run(storage: str, tmp_path) -> tuple[dict, BCD]:
    torch.manual_seed(0)
    x, y = torch.randn(40, 5), torch.randn(40, 2)
    solver = BCD(LiftedProblem(MLP([5, 7, 6, 2])), aux=KeptAux(storage=storage, path=tmp_path))
    fit(solver, x, y, epochs=3, batch_size=8, progress=False, eval_train=False)
    return solver.network.state_dict(), solver


@pytest.mark.parametrize("storage", ["pinned", "mmap"])
def test_storages_give_the_same_run(storage, tmp_path):
    ref, ref_solver = _run("device", tmp_path)
    state, solver = _run(storage, tmp_path)
    for k in ref:
        torch.testing.assert_close(state[k], ref[k], rtol=0, atol=0)
    for a, b in zip(ref_solver.memory.buffers, solver.memory.buffers):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert solver.memory.seen.all()
    assert list(tmp_path.iterdir()) == []  # the memory-mapped files are unlinked at once


def test_memory_formula_matches_the_buffers():
    net = MLP([5, 7, 6, 2])
    mem = AuxMemory(net, 13)
    assert mem.nbytes == aux_bytes(net, 13) == 13 * ((7 + 6) * 4 + 1)


def test_unknown_storage_is_refused():
    with pytest.raises(ValueError, match="aux storage"):
        AuxMemory(MLP([3, 4, 1]), 5, storage="disk")
