"""Deblurring as a restoration task: a circular blur by a kernel plus Gaussian noise."""

from __future__ import annotations

import torch

from ..utils.checks import check_sigma01
from .physics import as_kernel, blur_physics


def describe(kernel, sigma: float) -> dict:
    """The task dictionary saved with a deblurring network (``sigma`` on the [0, 1] scale)."""
    sigma = check_sigma01(sigma, positive=False)
    return {"task": "deblurring", "kernel": as_kernel(kernel).tolist(), "sigma": float(sigma)}


def physics(task: dict, device="cpu"):
    """deepinv's circular ``Blur`` with ``GaussianNoise(sigma)`` and its own generator on ``device``;
    ``task['sigma']`` and ``task['kernel']`` are checked as in :func:`describe` (a dictionary written by hand)."""
    if "kernel" not in task:
        raise ValueError(f"task: a deblurring task needs its 'kernel' (describe(kernel, sigma) writes one), "
                         f"got the keys {sorted(task)}")
    sigma = check_sigma01(task.get("sigma"), "task['sigma']", positive=False)
    return blur_physics(torch.tensor(task["kernel"]), sigma, device=device)


@torch.no_grad()
def balanced_weights(network, scale: float = 1.0) -> list[float]:
    r"""Penalty weights :math:`\lambda_l` that balance the auxiliary steps (``--lam balanced``).

    A z-state is read by the next dual layer through :math:`(\tau/\nu)D`, whose squared norm
    :math:`0.98/(\nu^2\|D\|^2)` is about 100 at initialisation: with :math:`\lambda = 1` the
    z-blocks take steps of about 1/100 and the loss signal fades across them.  Weighting every
    dual layer by :math:`\lambda_u = \nu^2\|D\|^2` (the inverse of that norm, at the initial
    weights, then fixed) and every z-layer by 1 makes the Lipschitz constants of all blocks of
    order 1.  Our rule, not from a paper.
    """
    from ..models.dfb import DFBLayer, InjectionMap

    lam = []
    for l in range(1, network.depth):
        layer = network.layer(l)
        if isinstance(layer, DFBLayer) and isinstance(layer.linear, InjectionMap):
            lam.append(scale / max(layer.linear.op_norm_sq(network.state_shapes[l - 1])[0], 1e-6))
        else:
            lam.append(scale)
    return lam
