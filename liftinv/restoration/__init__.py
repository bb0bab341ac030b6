"""The shared restoration layer: what every task (denoising, deblurring, the autoencoder) uses.

* :class:`TrainConfig`: a training run's settings as data, saved in checkpoints and reports;
* :func:`train` / :func:`train_network`: one training function for any deepinv ``Physics``,
  network and trainer, with atomic resumable checkpoints; :func:`make_solver`;
* :func:`build_network`, :func:`load_network`, :func:`make_physics`: rebuild a run from its
  architecture and task dictionaries;
* :func:`degraded_test_set`, :func:`restore_images`, :func:`score`: one fixed-seed test set and
  one restore-and-score;
* :func:`run_metadata`, :func:`write_report`, :func:`plot_panels`, :func:`plot_psnr_vs_time`:
  one report writer;
* :mod:`.arguments`: the command line's argument groups (imports no torch).

Imported lazily, so that ``liftinv --help`` does not import torch.
"""

from importlib import import_module

_API = {
    "TrainConfig": "config", "TRAINERS": "config",
    "train": "training", "train_network": "training", "make_solver": "training",
    "training_patches": "training", "degraded_batches": "training",
    "build_network": "registry", "load_network": "registry", "make_physics": "registry",
    "degraded_test_set": "evaluation", "restore_images": "evaluation", "score": "evaluation",
    "report_against_clean": "evaluation",
    "run_metadata": "report", "markdown_header": "report", "write_report": "report",
    "plot_panels": "report", "plot_psnr_vs_time": "report", "peak_memory_mb": "report",
}

__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        return getattr(import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
