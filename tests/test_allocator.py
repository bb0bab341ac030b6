"""tune_cpu_allocator: glibc's malloc keeps large blocks; opting out leaves it alone."""

import platform
import subprocess
import sys

import pytest


def test_opt_out_leaves_malloc_alone(monkeypatch):
    import liftinv
    from liftinv.utils import allocator

    monkeypatch.setattr(allocator, "_tuned", None)
    monkeypatch.setenv("LIFTINV_MALLOC", "default")
    assert allocator.tune_cpu_allocator() is False
    assert liftinv.tune_cpu_allocator is allocator.tune_cpu_allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_settings_take_effect_in_a_fresh_process():
    code = "from liftinv.utils.allocator import tune_cpu_allocator as t; print(t(), t())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
