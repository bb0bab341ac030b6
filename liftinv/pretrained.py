"""The denoisers shipped with liftinv: lifted-trained ScCP-PNNs, ready to use without training.

The networks are unrolled strongly convex Chambolle-Pock iterations (docs/networks.md).

>>> import liftinv
>>> net, info = liftinv.pretrained(25)              # grayscale, sigma 25/255     # doctest: +SKIP
>>> x = net(noisy[None])                             # (1, 1, H, W) in, same out   # doctest: +SKIP
>>> net, info = liftinv.pretrained(25, color=True)  # colour: the grayscale models # doctest: +SKIP
>>> liftinv.pretrained.available()                   # what is shipped             # doctest: +SKIP
>>> d = liftinv.pretrained.deepinv_denoiser()       # every level, for deepinv PnP # doctest: +SKIP

``liftinv.pretrained`` is this module, and calling it calls :func:`pretrained` (so the name works
both as ``liftinv.pretrained(25)`` and as ``liftinv.pretrained.available()``, whichever of the
module or the function an import bound it to).

``sigma`` is on the 0-255 scale, like the command line's ``--sigma``.  A grayscale noise level
without its own model gets the model trained at the largest level below it, run on the image
scaled so that it sees its own level (the rule of :func:`deepinv_denoiser`; below the smallest
trained level, that model's output blended with the input in proportion sigma / its level), with a
warning.  A colour image
is denoised, by default, by the grayscale models applied to its opponent colour channels
(:mod:`liftinv.denoising.opponent`), built for the requested noise level itself.  The files live in
``liftinv/weights/`` (package data) and were made by ``benchmarks/train_pretrained.py``; their
training commands, times, machine and test scores are in ``liftinv/weights/README.md``.
Importing this module does not import torch.
"""

from __future__ import annotations

import math
import numbers
import sys
import types
import warnings
from pathlib import Path

__all__ = ["COLOR_MODELS", "MODELS", "WEIGHTS_DIR", "available", "deepinv_denoiser", "pretrained", "select"]

#: where the shipped weights are (inside the installed package)
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: the shipped models: key -> file, trained sigma (0-255 scale), colour
MODELS = {
    "gray10": {"file": "sccp_gray_s10.pt", "sigma": 10.0, "color": False},
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
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma: expected a finite noise level > 0 on the 0-255 scale (e.g. 25), got {sigma!r}")
    if sigma > 255:  # as `liftinv denoise --sigma`: a level meant for 16-bit or 0-65535 data
        raise ValueError(f"sigma: expected a noise level on the 0-255 scale (at most 255), got {sigma!r}; a level "
                         "for 16-bit data goes in divided by 257 (0-65535 -> 0-255)")
    return float(sigma)  # numpy scalars included


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


#: how a colour image is denoised: "opponent" (the grayscale models, one per opponent channel, the
#: default) or "rgb" (the ScCP-PNN trained on RGB images, shipped for sigma 25)
COLOR_MODELS = ("opponent", "rgb")


def pretrained(sigma: float, color: bool = False, device=None, color_model: str = "opponent"):
    """``(network, info)``: the shipped denoiser for noise level ``sigma`` (0-255 scale) in grayscale
    or colour (``color``), in eval mode on ``device`` (``None``: CUDA when available).

    Colour images are denoised by default with the grayscale models in the opponent colour space
    (:mod:`liftinv.denoising.opponent`: the luminance and the two chrominances each by the
    grayscale model that suits its noise level, for any ``sigma``), which scored 1.3 dB above the
    ScCP-PNN trained on RGB images on natural colour images neither was trained on
    (docs/networks.md); ``color_model="rgb"`` gives that RGB network instead.

    The network maps a noisy ``(B, C, H, W)`` batch in [0, 1] to its denoised version (not
    clipped); ``liftinv.denoising.denoise_tiled(net, z)`` runs it on large images in bounded memory
    and ``liftinv.denoising.as_deepinv_denoiser(net, info["sigma_01"])`` makes it a deepinv
    ``Denoiser``.  ``info``: ``file`` and ``path`` (of every file used, joined by " + "), ``files``,
    ``sigma`` (the level the returned denoiser is for, 0-255: the trained level, or the requested one
    for a model rescaled or blended to it, whose trained level is then ``trained_sigma``, and for the
    opponent colour denoiser; ``sigma_01`` on the [0, 1] scale),
    ``requested_sigma``, ``color``, ``color_model`` (colour only), ``trainer``, ``seconds`` and
    ``steps`` of training (summed over the files), ``arch`` and ``summary`` (one line for people).

    Raises ``ValueError`` for a ``sigma`` that is not a finite number > 0 or an unknown
    ``color_model``, and ``FileNotFoundError`` naming the file and the command that makes it when a
    file is missing.
    """
    if color_model not in COLOR_MODELS:
        raise ValueError(f"color_model: expected one of {', '.join(map(repr, COLOR_MODELS))}, got {color_model!r}")
    sigma = _check_sigma(sigma)
    if sigma < 1:  # most likely a [0, 1]-scale level
        warnings.warn(f"sigma {sigma:g} is read on the 0-255 scale ({sigma:g}/255, below the noise of 8-bit "
                      f"rounding); a level on the [0, 1] scale goes in times 255 (e.g. 25/255 -> 25)",
                      UserWarning, stacklevel=2)
    if color and color_model == "opponent":
        return _opponent(sigma, device)
    if not color:
        return _grayscale(sigma, device)
    key, spec = select(sigma, color)
    net, info = _load(key, device)
    info["requested_sigma"] = float(sigma)
    if color:
        info["color_model"] = "rgb"
    info["summary"] = (f"{'colour' if color else 'grayscale'} {info['arch']['name']}, trained {info['trainer']} "
                       f"at sigma {info['sigma']:g}/255")
    return net, info


def _grayscale(sigma: float, device):
    """The grayscale denoiser for ``sigma`` (0-255): its own model, or a trained one rescaled."""
    from .denoising.deepinv_denoiser import Rescaled, family_choice

    grays = sorted((spec["sigma"], key) for key, spec in MODELS.items() if not spec["color"])
    k, scale, weight = family_choice(sigma, [level for level, _ in grays])
    net, info = _load(grays[k][1], device)
    info["requested_sigma"] = sigma
    trained = info["sigma"]
    summary = f"grayscale {info['arch']['name']}, trained {info['trainer']} at sigma {trained:g}/255"
    if trained != sigma:
        levels = ", ".join(f"{level:g}" for level, _ in grays)
        how = (f"{info['file']} (sigma {trained:g}/255) on the image scaled by {scale:.3g}, so that it sees "
               "its own level" if scale < 1 else
               f"the lowest, {info['file']} (sigma {trained:g}/255), its output weighted {weight:.3g} against "
               f"the input's {1 - weight:.3g}")
        warnings.warn(f"no shipped grayscale denoiser for sigma {sigma:g}/255 (trained: {levels}); using {how}",
                      UserWarning, stacklevel=3)
        net = Rescaled(net, scale, weight).eval()
        # like the opponent denoiser, it is built for the requested level
        info.update(sigma=sigma, sigma_01=sigma / 255, trained_sigma=trained, scale=scale, weight=weight)
        summary += (f", rescaled by {scale:.3g}" if scale < 1 else f", blended {weight:.3g} with its input") + \
            f" for sigma {sigma:g}/255"
    info["summary"] = summary
    return net, info


def _load(key: str, device):
    """``(network, info)`` of the shipped file of model ``key``."""
    spec = MODELS[key]
    path = WEIGHTS_DIR / spec["file"]
    if not path.is_file():
        raise FileNotFoundError(f"the shipped weights {str(path)!r} are missing (a source checkout without them, "
                                f"or a damaged install); make them with: {REMEDY.format(key=key)} "
                                "(run in the repository), or reinstall liftinv")
    from .restoration.registry import load_network

    net, ckpt = load_network(path, device)
    net.eval()
    final = (ckpt.get("history") or [{}])[-1]
    info = {"file": spec["file"], "files": [spec["file"]], "path": str(path), "sigma": spec["sigma"],
            "sigma_01": spec["sigma"] / 255, "color": spec["color"],
            "trainer": (ckpt.get("config") or {}).get("trainer"),
            "seconds": final.get("seconds"), "steps": final.get("iterations"), "arch": ckpt["arch"]}
    return net, info


def _opponent(sigma: float, device):
    """The colour denoiser of the grayscale models in the opponent space, built for ``sigma``."""
    from .denoising.opponent import OpponentDenoiser, opponent_plan, opponent_weights

    grays = {spec["sigma"]: key for key, spec in MODELS.items() if not spec["color"]}
    plan = opponent_plan(sigma, sorted(grays))
    loaded = {level: _load(grays[level], device) for level in sorted({level for level, _ in plan})}
    nets = [loaded[level][0] for level, _ in plan]
    weights = opponent_weights(sigma, plan, sorted(grays))
    net = OpponentDenoiser(nets, [scale for _, scale in plan], weights).to(next(nets[0].parameters()).device).eval()
    infos = [info for _, info in loaded.values()]
    luminance, chrominance = (loaded[plan[k][0]][1]["file"] for k in (0, 1))
    roles = (f"{luminance} (every channel)" if luminance == chrominance
             else f"{luminance} (luminance) and {chrominance} (chrominance)")
    info = {"file": " + ".join(i["file"] for i in infos), "files": [i["file"] for i in infos],
            "path": " + ".join(i["path"] for i in infos), "sigma": sigma, "sigma_01": sigma / 255,
            "requested_sigma": sigma, "color": True, "color_model": "opponent",
            "trainer": infos[0]["trainer"], "seconds": sum(i["seconds"] or 0 for i in infos),
            "steps": sum(i["steps"] or 0 for i in infos),
            "arch": {"name": "opponent", "channels": 3, "plan": [list(p) for p in plan], "weights": weights,
                     "networks": [loaded[level][1]["arch"] for level, _ in plan]},
            "summary": f"colour, in the opponent colour space for sigma {sigma:g}/255: grayscale {roles}, "
                       f"trained {infos[0]['trainer']}"
                       + (", blended with the input below the lowest level" if min(weights) < 1 else "")}
    return net, info


def deepinv_denoiser(color: bool = False, device=None):
    """All the shipped grayscale models as one deepinv ``Denoiser`` for every noise level, in
    grayscale or colour: :class:`liftinv.denoising.deepinv_denoiser.FamilyDenoiser` (at
    ``sigma``, the model trained at the largest level not above it, rescaled to its own level; in
    colour the opponent denoiser planned for ``sigma``).  For plug-and-play solvers, whose
    schedules sweep the denoising strength; ``forward(x, sigma)`` takes ``sigma`` on the [0, 1]
    scale, as deepinv does."""
    from .denoising.deepinv_denoiser import FamilyDenoiser

    grays = {spec["sigma"] / 255: _load(key, device)[0] for key, spec in MODELS.items() if not spec["color"]}
    return FamilyDenoiser(grays, color=color).eval()


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`pretrained`."""

    # the function itself (no wrapper frame), so that its warnings point at the caller's line
    __call__ = staticmethod(pretrained)


sys.modules[__name__].__class__ = _CallableModule
