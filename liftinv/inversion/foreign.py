"""Networks trained elsewhere and their features, from files (``liftinv invert --module``).

* :func:`load_module`: ``FILE.py:NAME`` names a ``torch.nn.Module`` in a Python file of the
  user's: an instance, a class or a function called without arguments; ``weights`` (optional) is a
  ``state_dict`` saved by ``torch.save(module.state_dict(), ...)``, read with
  ``weights_only=True`` (tensors only, no code from the file), loaded strictly; the module is put
  in eval mode.  The Python file is the user's own code and runs as such.
* :func:`load_features`: a tensor saved by ``torch.save`` (``weights_only=True``) or a NumPy
  ``.npy`` array, of the network's output shape, with or without the batch dimension.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported when a network is loaded: the command line's option check stays light
    import torch
    from torch import nn


def split_module_spec(spec: str, option: str = "--module") -> tuple[str, str]:
    """``'path/to/file.py:NAME'`` as ``(path, NAME)``; a ``ValueError`` saying the form otherwise."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise ValueError(f"{option} {spec!r}: expected FILE.py:NAME, NAME a module instance, a class or a "
                         "function of that file that builds the network (called without arguments)")
    return path, name


def load_module(spec: str, weights: str | None = None, *, option: str = "--module") -> nn.Module:
    """The module that ``spec`` (``'path/to/file.py:NAME'``) names, with ``weights`` loaded, in
    eval mode; a ``ValueError`` naming ``option`` and what to fix otherwise."""
    import torch
    from torch import nn

    path, name = split_module_spec(spec, option)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{option} {spec!r}: there is no file {path!r}")
    loader = importlib.util.spec_from_file_location(f"_liftinv_user_{Path(path).stem}", path)
    source = importlib.util.module_from_spec(loader)
    try:
        loader.loader.exec_module(source)
    except Exception as exc:  # the user's file: its own error, named
        raise ValueError(f"{option} {spec!r}: running {path} raised {type(exc).__name__}: {exc}") from exc
    if not hasattr(source, name):
        found = sorted(k for k, v in vars(source).items() if not k.startswith("_") and
                       (isinstance(v, nn.Module) or (isinstance(v, type) and issubclass(v, nn.Module))))
        raise ValueError(f"{option} {spec!r}: {path} defines no {name!r} (modules there: {found or 'none'})")
    obj = getattr(source, name)
    if weights is None and isinstance(obj, type):
        print(f"note: {option} {spec!r} names a class and no --weights are given: the network has the weights "
              f"its constructor gives {name} (random, unless it loads its own)")
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise ValueError(f"{option} {spec!r}: {name} is a {type(obj).__name__}, not a module or a function")
        try:
            obj = obj()
        except TypeError as exc:
            raise ValueError(f"{option} {spec!r}: {name}() must build the network without arguments: {exc}") from exc
        if not isinstance(obj, nn.Module):
            raise ValueError(f"{option} {spec!r}: {name}() returned a {type(obj).__name__}, not an nn.Module")
    if weights is not None:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise FileNotFoundError(f"--weights {weights!r} does not exist") from None
        except Exception:
            raise ValueError(f"--weights {weights!r}: torch.load(weights_only=True) cannot read it as tensors (a "
                             "whole pickled module, or another kind of file?); save the weights with "
                             "torch.save(module.state_dict(), path)") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError(f"--weights {weights!r} holds a {type(state).__name__}, not a state_dict (save it "
                             "with torch.save(module.state_dict(), path))")
        try:
            obj.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"--weights {weights!r} does not fit {name}: {str(exc).splitlines()[0]} "
                             f"{' '.join(str(exc).split()[1:])[:300]}") from None
    return obj.eval()


def load_features(path: str, out_shape, *, option: str = "--features") -> torch.Tensor:
    """The features in ``path`` (a ``torch.save``'d tensor or a ``.npy`` array) as a float32 batch
    of one sample of per-sample shape ``out_shape``."""
    import torch

    out_shape = tuple(out_shape)
    try:
        if str(path).endswith(".npy"):
            import numpy as np

            y = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            y = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{option} {path!r} does not exist") from None
    except Exception as exc:
        raise ValueError(f"{option} {path!r} is neither a tensor saved by torch.save nor a .npy array "
                         f"({str(exc).splitlines()[0]})") from None
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"{option} {path!r} holds a {type(y).__name__}, not a tensor")
    if tuple(y.shape) == out_shape:
        y = y[None]
    if tuple(y.shape) != (1,) + out_shape:
        raise ValueError(f"{option} {path!r} has shape {tuple(y.shape)}; the network's output for one input of "
                         f"this shape is {out_shape}")
    if not y.is_floating_point() or not bool(torch.isfinite(y).all()):
        raise ValueError(f"{option} {path!r} must hold finite floating-point values")
    return y.float()
