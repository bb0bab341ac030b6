"""Packages that import their API on first use (PEP 562), so that ``liftinv --help`` imports no torch."""

from __future__ import annotations

from importlib import import_module


def lazy_api(package: str, api: dict[str, str]):
    """``(__getattr__, __dir__)`` for ``package`` whose names ``api`` maps to submodules
    (``{"denoise_tiled": "tiling"}``: ``package.denoise_tiled`` is ``package.tiling.denoise_tiled``)."""

    def __getattr__(name: str):
        if name in api:
            return getattr(import_module(f".{api[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(api)

    return __getattr__, __dir__
