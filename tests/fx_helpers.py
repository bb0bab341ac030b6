"""Helpers shared by the tests of the torch.fx conversion (``tests/test_fx_*.py``,
``tests/test_torch_module_maps.py``): the float64 dtype and the check that a converted network
computes its module's output."""

from __future__ import annotations

import torch
from torch import nn

from liftinv.models import LiftedNetwork

F64 = torch.float64


def same(net: LiftedNetwork, model: nn.Module, shape, tol=1e-5, batch=3) -> None:
    """``net`` and ``model`` agree on a random batch of per-sample shape ``shape``."""
    x = torch.rand((batch,) + tuple(shape), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x), atol=tol, rtol=tol)
