"""Denoising: the denoisers (DFB-PNN, ScCP-PNN, deepinv's DnCNN), TV and BM3D references, and the
``liftinv train`` / ``liftinv denoise`` commands.  Training, scoring and reports come from
:mod:`liftinv.restoration`; the benchmark is ``liftinv bench denoise`` (:mod:`liftinv.bench`).

* :func:`denoise_tiled`: inference on large images in overlapping, blended tiles (:mod:`.tiling`);
* :class:`SelfEnsemble`: a denoiser averaged over the flips and quarter turns of its input
  (:mod:`.ensemble`);
* :class:`OpponentDenoiser`: a colour denoiser made of grayscale ones, in the opponent colour
  space (:mod:`.opponent`; the colour default of :func:`liftinv.pretrained`);
* :func:`as_deepinv_denoiser`: a trained denoiser as a ``deepinv.models.Denoiser`` for deepinv's
  plug-and-play solvers (:mod:`.deepinv_denoiser`).

Imported lazily, so that ``liftinv --help`` does not import torch.
"""

from ..utils.lazy import lazy_api

_API = {
    "denoise_tiled": "tiling", "auto_tile": "tiling", "receptive_radius": "tiling",
    "as_deepinv_denoiser": "deepinv_denoiser", "LiftinvDenoiser": "deepinv_denoiser",
    "FamilyDenoiser": "deepinv_denoiser",
    "OpponentDenoiser": "opponent", "opponent_plan": "opponent",
    "SelfEnsemble": "ensemble", "self_ensemble": "ensemble", "ENSEMBLE_SIZES": "ensemble",
    "default_arch": "models", "build_denoiser": "models", "DENOISERS": "models",
}

__all__ = sorted(_API)
__getattr__, __dir__ = lazy_api(__name__, _API)
