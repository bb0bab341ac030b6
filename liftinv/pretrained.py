"""The denoisers shipped with liftinv: lifted-trained ScCP-PNNs, ready to use without training.

The networks are unrolled strongly convex Chambolle-Pock iterations (docs/networks.md).

>>> import liftinv
>>> net, info = liftinv.pretrained(25)              # grayscale, sigma 25/255     # doctest: +SKIP
>>> x = net(noisy[None])                             # (1, 1, H, W) in, same out   # doctest: +SKIP
>>> liftinv.pretrained.available()                   # what is shipped             # doctest: +SKIP

``liftinv.pretrained`` is this module, and calling it calls :func:`pretrained` (so the name works
both as ``liftinv.pretrained(25)`` and as ``liftinv.pretrained.available()``, whichever of the
module or the function an import bound it to).

``sigma`` is on the 0-255 scale, like the command line's ``--sigma``.  A noise level without its
own model gets the model of the nearest trained one, with a warning.  The files live in
``liftinv/weights/`` (package data) and were made by ``benchmarks/train_pretrained.py``; their
training commands, times, machine and test scores are in ``liftinv/weights/README.md``.
Importing this module does not import torch.
"""

from __future__ import annotations

import math
import sys
import types
import warnings
from pathlib import Path

__all__ = ["MODELS", "WEIGHTS_DIR", "available", "pretrained", "select"]

#: where the shipped weights are (inside the installed package)
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: the shipped models: key -> file, trained sigma (0-255 scale), colour
MODELS = {
    "gray15": {"file": "sccp_gray_s15.pt", "sigma": 15.0, "color": False},
    "gray25": {"file": "sccp_gray_s25.pt", "sigma": 25.0, "color": False},
    "gray50": {"file": "sccp_gray_s50.pt", "sigma": 50.0, "color": False},
    "color25": {"file": "sccp_color_s25.pt", "sigma": 25.0, "color": True},
}

#: the command that writes a missing file (its key appended)
REMEDY = "OMP_NUM_THREADS=1 python3 benchmarks/train_pretrained.py --models {key}"


def available(color: bool | None = None) -> list[dict]:
    """The shipped models whose file is present: ``[{"key", "file", "path", "sigma", "color"}]``,
    by colour then sigma (``color``: only grayscale (False) or only colour (True) ones)."""
    out = [{"key": key, **spec, "path": WEIGHTS_DIR / spec["file"]} for key, spec in MODELS.items()
           if (color is None or spec["color"] == bool(color)) and (WEIGHTS_DIR / spec["file"]).is_file()]
    return sorted(out, key=lambda m: (m["color"], m["sigma"]))


def _check_sigma(sigma) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma: expected a finite noise level > 0 on the 0-255 scale (e.g. 25), got {sigma!r}")
    return float(sigma)


def select(sigma: float, color: bool = False) -> tuple[str, dict]:
    """``(key, spec)`` of the model for ``sigma`` (0-255 scale): the one trained at ``sigma``, else
    the nearest trained sigma (ties: the larger), with a ``UserWarning`` saying so."""
    sigma = _check_sigma(sigma)
    kinds = {k: s for k, s in MODELS.items() if s["color"] == bool(color)}
    key = min(kinds, key=lambda k: (abs(kinds[k]["sigma"] - sigma), -kinds[k]["sigma"]))
    spec = kinds[key]
    if spec["sigma"] != sigma:
        trained = ", ".join(f"{s['sigma']:g}" for s in kinds.values())
        warnings.warn(f"no shipped {'colour' if color else 'grayscale'} denoiser for sigma {sigma:g}/255 "
                      f"(trained: {trained}); using the nearest, {spec['file']} (sigma {spec['sigma']:g}/255)",
                      UserWarning, stacklevel=3)
    return key, spec


def pretrained(sigma: float, color: bool = False, device=None):
    """``(network, info)``: the shipped denoiser for noise level ``sigma`` (0-255 scale) in grayscale
    or colour (``color``), in eval mode on ``device`` (``None``: CUDA when available).

    The network maps a noisy ``(B, C, H, W)`` batch in [0, 1] to its denoised version (not
    clipped); ``liftinv.denoising.denoise_tiled(net, z)`` runs it on large images in bounded memory
    and ``liftinv.denoising.as_deepinv_denoiser(net)`` makes it a deepinv ``Denoiser``.  ``info``:
    ``file``, ``path``, ``sigma`` (the trained level, 0-255; ``sigma_01`` on the [0, 1] scale, what
    ``as_deepinv_denoiser(net, info["sigma_01"])`` takes), ``requested_sigma``, ``color``,
    ``trainer``, ``seconds`` and ``steps`` of training, ``arch``.

    Raises ``ValueError`` for a ``sigma`` that is not a finite number > 0, and
    ``FileNotFoundError`` naming the file and the command that makes it when the file is missing.
    """
    key, spec = select(sigma, color)
    path = WEIGHTS_DIR / spec["file"]
    if not path.is_file():
        raise FileNotFoundError(f"the shipped weights {str(path)!r} are missing (a source checkout without them, "
                                f"or a damaged install); make them with: {REMEDY.format(key=key)} "
                                "(run in the repository), or reinstall liftinv")
    from .restoration.registry import load_network

    net, ckpt = load_network(path, device)
    net.eval()
    final = (ckpt.get("history") or [{}])[-1]
    info = {"file": spec["file"], "path": str(path), "sigma": spec["sigma"], "sigma_01": spec["sigma"] / 255,
            "requested_sigma": float(sigma),
            "color": spec["color"], "trainer": (ckpt.get("config") or {}).get("trainer"),
            "seconds": final.get("seconds"), "steps": final.get("iterations"), "arch": ckpt["arch"]}
    return net, info


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`pretrained`."""

    def __call__(self, sigma: float, color: bool = False, device=None):
        return pretrained(sigma, color=color, device=device)


sys.modules[__name__].__class__ = _CallableModule
