r"""The convex single-layer case: :math:`\min_x B_\Psi(y^\delta, Wx + b) + \alpha J(x)`.

(lifted-maths.md 4 and 8.10.)  For one layer :math:`N(x) = \sigma(Wx + b)`,
:math:`\sigma = \mathrm{prox}_\Psi`, the lifted objective has no auxiliaries and is
convex in :math:`x`; :math:`\nabla_x B = W^\top(\sigma(Wx + b) - y^\delta)` is
:math:`\|W\|^2`-Lipschitz.  With :math:`J = \mathrm{TV}` dualised,
:math:`\mathrm{TV}(x) = \max_{|z|\le1}\langle z, \nabla x\rangle`, the Condat-Vu /
generalised PDHG iteration of the slides is

.. math::
    x^{k+1} &= x^k - \tau_x\big(W^\top(\sigma(Wx^k + b) - y^\delta) - \alpha\,\mathrm{div}\,z^k\big),\\
    z^{k+1} &= \Pi_{|\cdot|\le1}\big(z^k + \tau_z\alpha\nabla(2x^{k+1} - x^k)\big),

convergent when :math:`1/\tau_x - \tau_z\alpha^2\|\nabla\|^2 \ge \|W\|^2/2`
(:math:`\|\nabla\|^2\le8`).  We take :math:`\tau_z\alpha^2\cdot8 = \|W\|^2/2`, i.e.
:math:`\tau_x = 0.99/\|W\|^2`, :math:`\tau_z = \|W\|^2/(16\alpha^2)`.  For the other
regularisers the step is forward-backward, :math:`x \leftarrow \mathrm{prox}_{\tau_x\alpha J}(\cdot)`.
``alpha`` may be a per-sample tensor ``(B,)``: the theorem's rule
:math:`\alpha\propto\delta` is applied to a batch of noise levels at once.
"""

from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from ..models.network import LiftedNetwork
from ..utils.tv import div2d, grad2d, project_unit_ball
from .regularisers import TV, Regulariser, get_regulariser
from .result import InversionResult, check_reference, data_misfit, psnr_values, reference_tensor


def _per_sample(t):
    return t.flatten(1).sum(1)


@torch.no_grad()
def invert_single_layer(network: LiftedNetwork, y: torch.Tensor, *, alpha, regulariser: str | Regulariser = "tv",
                        iters: int = 1000, x_init="half", x_true: torch.Tensor | None = None,
                        monitor_every: int = 50, progress: bool = False) -> InversionResult:
    """Solve the single-layer problem (module docstring) for every sample of ``y``.

    ``network`` must have one layer (e.g. ``prefix_network(net, 1)``).  Returns an
    :class:`InversionResult` whose history holds the objective
    :math:`B_\\Psi(y, Wx+b) + \\alpha J(x)` (batch mean) and the Bregman misfit.
    """
    from .lifted import initial_input

    if not isinstance(network, LiftedNetwork) or network.depth != 1:
        raise ValueError("invert_single_layer needs a one-layer LiftedNetwork (use prefix_network(net, 1))")
    p = reference_tensor(network, y)
    y = y.to(p)
    layer, act = network.layer(1), network.activation(1)
    amap = layer.linear
    if layer.skips:
        raise ValueError("invert_single_layer: the layer must not have skip connections")
    reg = get_regulariser(regulariser)
    alpha_t = torch.as_tensor(alpha, dtype=y.dtype, device=y.device)
    if bool((alpha_t < 0).any()):
        raise ValueError("alpha must be >= 0")
    a = alpha_t.view(-1, *([1] * (len(network.in_shape)))) if alpha_t.dim() > 0 else alpha_t
    shape = network.in_shape
    est, vec = amap.op_norm_sq(shape)
    if vec is not None:
        est, _ = amap.op_norm_sq(shape, vec, n_iter=50)
    lw = 1.01 * est
    tau_x = 0.99 / lw
    x = initial_input(network, y, x_init)
    x_true = check_reference(x_true, x)
    tv = isinstance(reg, TV)
    if tv:
        TV._check(x)
        z = x.new_zeros(x.shape[:2] + (2,) + x.shape[2:])
        tau_z = lw / (16.0 * (a * a).clamp_min(1e-30))
        tau_z5 = tau_z.unsqueeze(2) if tau_z.dim() > 0 else tau_z
        a5 = a.unsqueeze(2) if a.dim() > 0 else a

    def objective(xx):
        v = amap(xx)
        val = act.penalty(y, v)
        jv = reg.value(xx)
        return val + alpha_t * jv, val

    history, seconds = [], 0.0

    def record(it):
        obj, breg = objective(x)
        rec = {"iteration": it, "seconds": seconds, "objective": float(obj.mean()),
               "bregman_misfit": float(breg.mean()), "misfit": float(data_misfit(network, x, y).mean()),
               "violation": 0.0}
        if x_true is not None:
            rec["psnr"] = float(psnr_values(x, x_true).mean())
        history.append(rec)

    record(0)
    for it in tqdm(range(1, iters + 1), desc="single-layer PDHG", disable=not progress, leave=False):
        t0 = time.perf_counter()
        g = amap.A_adjoint(act.sigma(amap(x)) - y, shape)
        if tv:
            x_new = x - tau_x * (g - a * div2d(z))
            z = project_unit_ball(z + tau_z5 * a5 * grad2d(2.0 * x_new - x))
        else:
            x_new = reg.prox(x - tau_x * g, tau_x * alpha_t) if reg.name != "none" else x - tau_x * g
        x = x_new
        seconds += time.perf_counter() - t0
        if it % monitor_every == 0 or it == iters:
            record(it)
    settings = {"method": "single-layer PDHG" if tv else "single-layer forward-backward", "regulariser": reg.name,
                "alpha": alpha_t.tolist(), "iters": iters, "tau_x": tau_x}
    res = InversionResult(x, history, None, settings)
    res.dual = z if tv else None
    return res


def bregman_subgradient(network: LiftedNetwork, x: torch.Tensor, y: torch.Tensor, alpha) -> torch.Tensor:
    r"""The subgradient :math:`p_\alpha = W^\top(y - \sigma(Wx_\alpha + b))/\alpha \in \partial J(x_\alpha)`
    given by the optimality condition of the single-layer problem at its minimiser."""
    amap, act = network.layer(1).linear, network.activation(1)
    a = torch.as_tensor(alpha, dtype=x.dtype, device=x.device)
    a = a.view(-1, *([1] * (x.dim() - 1))) if a.dim() > 0 else a
    return amap.A_adjoint(y - act.sigma(amap(x)), tuple(x.shape[1:])) / a


def bregman_distance_tv(u_true: torch.Tensor, u: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    r"""Per-sample :math:`D_J^p(u^\dagger, u) = J(u^\dagger) - J(u) - \langle p, u^\dagger - u\rangle`, J = TV."""
    tv = TV()
    return tv.value(u_true) - tv.value(u) - _per_sample(p * (u_true - u))
