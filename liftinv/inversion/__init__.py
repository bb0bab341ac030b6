"""Inversion of trained networks with frozen weights: recover x from N(x) (or from layer-l features).

Public API (imported lazily, so that ``liftinv --help`` does not import torch):

* :func:`from_sequential`, :func:`from_module`, :func:`prefix_network`, :func:`as_lifted`,
  :class:`ConversionError` (from :mod:`liftinv.models.convert` and :mod:`liftinv.models.fx_convert`,
  their homes): turn an ``nn.Sequential`` or any module torch.fx traces into a
  :class:`~liftinv.models.LiftedNetwork` (``as_lifted`` accepts either), cut a prefix;
* :class:`LiftedInversion`, :func:`invert_lifted`: lifted Bregman block-coordinate inversion;
* :func:`invert_single_layer`: the convex one-layer case by PDHG / Condat-Vu;
* :func:`invert_gradient`: the gradient baseline (Adam or L-BFGS on the nested objective);
* regularisers :class:`TV`, :class:`Tikhonov`, :class:`Box`, :class:`NoRegulariser`,
  :func:`get_regulariser`;
* :class:`InversionResult` (estimate + history);
* :func:`noisy_code`: relative Gaussian noise on features;
* :func:`load_module`, :func:`load_features`: a network of the user's (``FILE.py:NAME`` and a
  ``state_dict``) and saved features, as ``liftinv invert --module`` reads them;
* the autoencoder of the demo: :func:`autoencoder_arch`, :func:`build_autoencoder`,
  :func:`train_autoencoder`.

The experiments and the benchmark are ``liftinv bench invert`` (:mod:`liftinv.bench.invert`).
"""

from importlib import import_module

#: the regularisation weight of the inversion solvers and ``liftinv invert`` when none is given (here,
#: free of torch, for the command line's help): on images in [0, 1] with exact or 1%-noisy features,
#: TV weights of 1e-3 beat 1e-2 on every network of a review of unseen ones (docs/inversion.md,
#: "Choosing alpha"); tune it on an image you know, and raise it with the noise
DEFAULT_ALPHA = 1e-3

_API = {
    "ConversionError": "..models.convert", "from_sequential": "..models.convert", "from_module": "..models.fx_convert",
    "prefix_network": "..models.convert", "as_lifted": "..models.convert", "noisy_code": "noise",
    "LiftedInversion": "lifted", "invert_lifted": "lifted", "invert_single_layer": "single_layer",
    "bregman_subgradient": "single_layer", "bregman_distance_tv": "single_layer", "invert_gradient": "gradient",
    "Regulariser": "regularisers", "TV": "regularisers", "Tikhonov": "regularisers", "Box": "regularisers",
    "NoRegulariser": "regularisers", "get_regulariser": "regularisers", "grad2d": "..utils.tv",
    "div2d": "..utils.tv", "InversionResult": "result", "autoencoder_arch": "autoencoder",
    "build_autoencoder": "autoencoder", "train_autoencoder": "autoencoder", "load_module": "foreign",
    "load_features": "foreign",
}

__all__ = sorted([*_API, "DEFAULT_ALPHA"])


def __getattr__(name):
    if name in _API:
        module = _API[name]
        return getattr(import_module(module if module.startswith(".") else f".{module}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
