"""The examples in the docstrings hold (every module that has some: none may go silently missing)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["liftinv.bench.scale", "liftinv.bench.tuning", "liftinv.denoising.classical",
           "liftinv.denoising.deepinv_denoiser", "liftinv.denoising.ensemble", "liftinv.denoising.opponent",
           "liftinv.lifting.weights", "liftinv.pretrained"]


@pytest.mark.parametrize("name", MODULES)
def test_the_module_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result


def test_every_module_with_examples_is_listed():
    from pathlib import Path

    root = Path(importlib.import_module("liftinv").__file__).parent
    found = sorted(".".join(("liftinv", *p.relative_to(root).with_suffix("").parts)) for p in root.rglob("*.py")
                   if ">>> " in p.read_text())
    assert found == sorted(MODULES)
