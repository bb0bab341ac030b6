"""Shared fixtures.

- ``device``: runs a test once on ``"cpu"`` and once on ``"cuda"``; the cuda case carries the
  ``cuda`` marker (deselect with ``-m "not cuda"``) and is skipped when no CUDA device is present.
- ``load_script``: imports a script of the repository (``load_script("benchmarks/deep_networks.py")``)
  as a module, for the smoke tests of benchmarks and demos.
- ``_seed_everything`` (autouse): seeds torch (CPU and CUDA) and NumPy's global RNG before every
  test, so a test's randomness does not depend on which tests ran before it.

The thread count (``torch.set_num_threads``) is deliberately left alone.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import numpy as np
import pytest
import torch

SEED = 0
ROOT = Path(__file__).resolve().parents[1]


def _load_script(relative: str):
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_script():
    """``load_script("benchmarks/x.py")``: the script imported as a module (its ``main`` not run)."""
    return _load_script


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request) -> torch.device:
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)  # also seeds every CUDA device (lazily when CUDA is not initialised)
    yield
