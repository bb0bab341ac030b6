"""The settings of a training run as data: one dataclass, filled once, saved verbatim.

A :class:`TrainConfig` is built from the command line (:func:`~liftinv.restoration.arguments.
config_from_args`) or in Python, written into every checkpoint (``checkpoint["config"]``) and
printed in every report, so a run can be reproduced from its outputs alone.  Each task keeps only
its defaults (a partial dictionary, e.g. the deblurring network's larger learning rate) and passes
them to :meth:`TrainConfig.with_defaults`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..utils.checks import check_device_name, check_number
from ..utils.schedules import lr_factor

TRAINERS = ("lifted", "isgm", "backprop")


@dataclass
class TrainConfig:
    """How to train: trainer, budget, batches, optimiser settings, patches, seed, device.

    ``trainer``: ``'lifted'`` (lifted Bregman BCD), ``'isgm'`` (implicit stochastic gradient) or
    ``'backprop'`` (Adam through autograd).  ``budget`` (training seconds) and/or ``epochs`` stop
    the run.  ``lr`` is Adam's learning rate on the weight blocks (every trainer).  ``lam`` weights
    the hidden layers' lifted penalties: a number, one number per hidden layer, or a rule name
    that the task resolves (``'balanced'`` for the deblurring network).  ``aux_iters``:
    auxiliary sweeps per step; ``lipschitz_every``: steps between refreshes of the auxiliary step
    sizes.  Training samples are ``patch x patch`` grid patches taken every ``stride`` pixels
    (``stride=None``: half a patch) and augmented by a flip/rotation, at most ``max_patches`` of
    them.  ``device=None`` picks CUDA when available.
    """

    trainer: str = "lifted"
    budget: float | None = None
    epochs: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    lr_schedule: str = "constant"
    lam: float | list | str = 1.0
    aux_iters: int = 1
    lipschitz_every: int = 1
    patch: int = 40
    stride: int | None = None
    max_patches: int | None = None
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        if self.trainer not in TRAINERS:
            raise ValueError(f"trainer: unknown {self.trainer!r}; choose one of {TRAINERS}")
        if self.budget is None and self.epochs is None:
            raise ValueError("give a budget (training seconds) or a number of epochs")
        for name in ("batch_size", "aux_iters", "lipschitz_every", "patch"):
            check_number(getattr(self, name), name, minimum=1, integer=True)
        for name in ("epochs", "stride", "max_patches"):
            if getattr(self, name) is not None:
                check_number(getattr(self, name), name, minimum=1, integer=True)
        if self.budget is not None:
            check_number(self.budget, "budget", strict=True, unit=" seconds")
        check_number(self.lr, "lr", strict=True)
        lr_factor(self.lr_schedule, 0.0)
        check_number(self.seed, "seed", integer=True)
        if not isinstance(self.lam, str):
            for value in self.lam if isinstance(self.lam, (list, tuple)) else [self.lam]:
                check_number(value, "lam", strict=True)
        if self.device is not None:
            check_device_name(str(self.device), "device")

    @property
    def patch_stride(self) -> int:
        """The stride of the patch grid (half a patch unless set)."""
        return self.stride or max(self.patch // 2, 1)

    def to_dict(self) -> dict:
        """The settings as a JSON-able dictionary (what checkpoints and reports store)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """The inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known: {sorted(names)}")
        return cls(**values)

    @classmethod
    def field_defaults(cls) -> dict:
        """Every setting's default (what a checkpoint written before a setting existed ran with)."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    @classmethod
    def with_defaults(cls, defaults: dict | None = None, **values) -> TrainConfig:
        """A config from a task's ``defaults`` overridden by the non-``None`` ``values``."""
        merged = dict(defaults or {})
        merged.update({k: v for k, v in values.items() if v is not None})
        return cls.from_dict(merged)

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def summary(self) -> str:
        """One line for logs and reports."""
        stop = " and ".join(s for s in (f"{self.budget:g} s" if self.budget else "",
                                        f"{self.epochs} epochs" if self.epochs else "") if s)
        return (f"{self.trainer}, {stop}, batch {self.batch_size}, lr {self.lr:g}"
                + ("" if self.lr_schedule == "constant" else f" ({self.lr_schedule})") + f", lam {self.lam}, "
                f"patches {self.patch}/{self.patch_stride}, seed {self.seed}")
