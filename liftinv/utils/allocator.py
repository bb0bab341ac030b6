r"""Keep large CPU tensors' memory in the process between training steps.

PyTorch's CPU tensors come from ``malloc``.  With glibc's defaults a block of a few
megabytes (one activation tensor of a training batch) is served by ``mmap`` and
returned to the system when freed, or the heap's top is trimmed back, so the next
step's tensor of the same size page-faults all its pages again, which costs more than
the arithmetic of a DFB-PNN step (benchmarks/README.md).  :func:`tune_cpu_allocator` tells
glibc to serve every block from the heap and never to trim it, so after the first step the memory is reused.  The
cost: memory freed by the process is kept for its lifetime (its peak stays
resident).  The command line calls it for every command that computes; set
``LIFTINV_MALLOC=default`` to opt out.  Other C libraries are left alone.

``LIFTINV_MALLOC=strict`` does the opposite, for measuring memory: every block above
64 KiB is its own ``mmap``, returned to the system when freed, so the resident set
tracks the live tensors and its peak (``VmHWM``) is the peak of live memory
(``liftinv bench scale`` measures CPU peaks this way; it is slow).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_STRICT_BYTES = 64 * 1024
_tuned: bool | None = None


def tune_cpu_allocator() -> bool:
    """Serve all ``malloc`` blocks from the heap and never trim it (glibc only).

    Returns whether the settings are in force.  Idempotent; a no-op returning
    ``False`` off Linux/glibc or when ``LIFTINV_MALLOC=default``; with
    ``LIFTINV_MALLOC=strict`` it sets the measuring mode instead (module docstring).
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if os.environ.get("LIFTINV_MALLOC", "").lower() == "default" or not sys.platform.startswith("linux"):
        return _tuned
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return _tuned
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if os.environ.get("LIFTINV_MALLOC", "").lower() == "strict":
        _tuned = bool(mallopt(_M_MMAP_THRESHOLD, _STRICT_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, _STRICT_BYTES))
    else:
        _tuned = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    return _tuned
