"""tune_cpu_allocator: glibc's malloc keeps large blocks; opting out leaves it alone."""

import os
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



@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not sys.platform.startswith("linux"), reason="glibc, /proc")
@pytest.mark.parametrize("mode", ["tuned", "strict"])
def test_freed_tensors_stay_resident_when_tuned_and_leave_when_strict(mode):
    code = (
        "import torch\n"
        "from liftinv.utils.allocator import tune_cpu_allocator\n"
        "assert tune_cpu_allocator()\n"
        "rss = lambda: int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1])\n"
        "before = rss(); a = torch.ones(64, 2**18); del a; print(rss() - before)\n"  # 64 MiB touched, freed
    )
    env = {**os.environ, "LIFTINV_MALLOC": mode}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    kept_mib = int(out.stdout.split()[-1]) / 1024
    assert (kept_mib > 48) == (mode == "tuned"), kept_mib
