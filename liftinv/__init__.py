"""liftinv: an inverse-problems imaging toolbox (PyTorch + deepinv).

Networks (MLPs, CNNs, residual and unrolled proximal networks) are trained by lifted Bregman
block-coordinate descent, with backpropagation as the like-for-like reference. Images are float32
tensors shaped (B, C, H, W) with values in [0, 1]; nothing is downloaded at run time.

Importing this package has no side effects (no torch import, no device query, no I/O).
"""

__version__ = "0.1.0"

# Public API, imported lazily so that `liftinv --help` does not pay for torch.
_EXPORTS = {
    "activations": ("liftinv.activations", None),
    "get_activation": ("liftinv.activations", "get_activation"),
    "NotProximalError": ("liftinv.activations", "NotProximalError"),
    "LiftedProblem": ("liftinv.lifting", "LiftedProblem"),
    "get_penalty": ("liftinv.lifting", "get_penalty"),
    "MLP": ("liftinv.models", "MLP"),
    "CNN": ("liftinv.models", "CNN"),
    "ResNet": ("liftinv.models", "ResNet"),
    "LiftedNetwork": ("liftinv.models", "LiftedNetwork"),
    "Layer": ("liftinv.models", "Layer"),
    "DFBPNN": ("liftinv.models", "DFBPNN"),
    "from_sequential": ("liftinv.models", "from_sequential"),
    "from_module": ("liftinv.models", "from_module"),
    "BCD": ("liftinv.solvers", "BCD"),
    "ISGM": ("liftinv.solvers", "ISGM"),
    "Backprop": ("liftinv.solvers", "Backprop"),
    "fit": ("liftinv.solvers", "fit"),
    # inverting a trained network: as_lifted(module, in_shape) converts a torch module
    "as_lifted": ("liftinv.inversion", "as_lifted"),
    "invert_lifted": ("liftinv.inversion", "invert_lifted"),
    "invert_gradient": ("liftinv.inversion", "invert_gradient"),
    "TrainConfig": ("liftinv.restoration", "TrainConfig"),
    "train_network": ("liftinv.restoration", "train_network"),
    "tune_cpu_allocator": ("liftinv.utils.allocator", "tune_cpu_allocator"),
    # the shipped denoisers: liftinv.pretrained(25) -> (network, info); liftinv.pretrained.available()
    "pretrained": ("liftinv.pretrained", None),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'liftinv' has no attribute {name!r}")
    import importlib

    module_name, attr = _EXPORTS[name]
    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)
