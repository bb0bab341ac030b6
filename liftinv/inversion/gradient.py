r"""Gradient-based inversion, the baseline users would otherwise pick.

Minimise, per sample, the nested objective

.. math:: F(x) = \tfrac12\|N(x) - y\|^2 + \alpha J(x)

by back-propagation through the frozen network, with Adam or L-BFGS, for a given
number of iterations (one iteration = one forward and one backward pass; for L-BFGS one
function evaluation, line-search evaluations included: torch's strong-Wolfe search does not stop
at ``max_eval``, so the last one may run a few evaluations past ``iters``, which
``settings['evaluations']`` and the history count).  The regulariser is the same
as the lifted solver's; its non-smooth parts are handled as users usually do: TV
through its smoothed form :math:`\sum\sqrt{|\nabla x|^2 + \epsilon^2} - \epsilon`
(``eps``), the box by projecting after each Adam step (and clamping the final L-BFGS
iterate).  Samples are summed, so Adam treats them independently.
"""

from __future__ import annotations

import time
import warnings

import torch
from tqdm.auto import tqdm

from ..utils.checks import check_number, check_tensor
from . import DEFAULT_ALPHA
from .regularisers import Regulariser, get_regulariser
from .result import InversionResult, check_features, check_reference, data_misfit, psnr_values, reference_tensor

METHODS = ("adam", "lbfgs")


def invert_gradient(network: torch.nn.Module, y: torch.Tensor, *, regulariser: str | Regulariser = "tv",
                    alpha: float = DEFAULT_ALPHA, iters: int = 300, method: str = "adam", lr: float | None = None,
                    eps: float = 1e-3, x_init="half", x_true: torch.Tensor | None = None,
                    monitor_every: int = 10, progress: bool = False,
                    desc: str | None = None) -> InversionResult:
    """Invert ``y`` through ``network`` (any module mapping ``(B,) + in_shape``; a
    :class:`~liftinv.models.LiftedNetwork` gives ``in_shape``) by ``method``.

    ``lr``: Adam's learning rate (default 0.01; images live in [0, 1]) or L-BFGS's
    (default 1, with strong-Wolfe line search; its history records every ``monitor_every``-th
    evaluated point, line-search trials included).  The history records the objective
    :math:`F`, the misfit and (with ``x_true``) the PSNR; ``violation`` is 0 (nested).
    """
    from .lifted import initial_input

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    alpha = check_number(alpha, "alpha")
    iters = check_number(iters, "iters", integer=True)
    eps = check_number(eps, "eps", strict=True)  # the smoothing of TV: 0 divides by 0 where the image is flat
    monitor_every = check_number(monitor_every, "monitor_every", minimum=1, integer=True)
    if lr is not None:
        lr = check_number(lr, "lr", strict=True)
    reg = get_regulariser(regulariser)
    p = reference_tensor(network, y)
    out_shape = getattr(network, "out_shape", None)  # None for a plain module
    check_features(y, out_shape)
    y = y.detach().to(p)
    x = initial_input(network, y, x_init)
    x_true = check_reference(x_true, x)
    if out_shape is None:  # a plain module: check y against its output
        with torch.no_grad():
            check_tensor(y, "y", shape=network(x[:1]).shape[1:])
    x.requires_grad_(True)
    was_training = network.training
    network.eval()
    params = list(network.parameters())
    flags = [q.requires_grad for q in params]
    for q in params:
        q.requires_grad_(False)
    box = reg.indicator  # a constraint: projected onto after each step, whatever alpha

    def objective(z, smooth=True):
        misfit = 0.5 * (network(z) - y).flatten(1).pow(2).sum(1)
        if alpha > 0 and not box:
            misfit = misfit + alpha * (reg.smooth_value(z, eps) if smooth else reg.value(z))
        return misfit

    history, seconds, count = [], 0.0, [0]

    def record(it):
        with torch.no_grad():
            rec = {"iteration": it, "seconds": seconds, "objective": float(objective(x, smooth=False).mean()),
                   "misfit": float(data_misfit(network, x, y).mean()), "violation": 0.0}
            if x_true is not None:
                rec["psnr"] = float(psnr_values(x.detach(), x_true).mean())
        history.append(rec)

    record(0)
    bar = tqdm(total=iters, desc=desc or f"gradient inversion ({method})", disable=not progress, leave=False)
    try:
        if method == "adam":
            opt = torch.optim.Adam([x], lr=0.01 if lr is None else lr)
            for it in range(1, iters + 1):
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                objective(x).sum().backward()
                opt.step()
                if box:
                    with torch.no_grad():
                        x.copy_(reg.prox(x, 0.0))
                if p.is_cuda:
                    torch.cuda.synchronize(p.device)
                seconds += time.perf_counter() - t0
                bar.update(1)
                if it % monitor_every == 0 or it == iters:
                    record(it)
        else:
            opt = torch.optim.LBFGS([x], lr=1.0 if lr is None else lr, max_iter=iters, max_eval=iters,
                                    history_size=20, line_search_fn="strong_wolfe",
                                    tolerance_grad=0.0, tolerance_change=0.0)
            clock = [time.perf_counter()]

            def closure():
                opt.zero_grad(set_to_none=True)
                loss = objective(x).sum()
                loss.backward()
                count[0] += 1
                bar.update(1)
                if count[0] % monitor_every == 0:  # the point being evaluated; recording is not timed
                    nonlocal seconds
                    seconds += time.perf_counter() - clock[0]
                    record(count[0])
                    clock[0] = time.perf_counter()
                return loss

            opt.step(closure)
            if box:
                with torch.no_grad():
                    x.copy_(reg.prox(x, 0.0))
            seconds += time.perf_counter() - clock[0]
            if box and history[-1]["iteration"] == count[0]:
                history.pop()  # it described the point before the clamp
            if history[-1]["iteration"] != count[0]:
                record(count[0])
    finally:
        bar.close()
        for q, f in zip(params, flags):
            q.requires_grad_(f)
        network.train(was_training)
    if not bool(torch.isfinite(x).all()):
        step = lr if lr is not None else (0.01 if method == "adam" else 1.0)
        warnings.warn(f"the {method} inversion diverged: its estimate has NaN or Inf values; try a smaller lr "
                      f"(now {step:g}) or a larger eps (now {eps:g})",
                      RuntimeWarning, stacklevel=2)
    settings = {"method": method, "regulariser": reg.name, "alpha": float(alpha), "iters": iters,
                "lr": lr, "eps": eps, "evaluations": count[0] if method == "lbfgs" else iters}
    return InversionResult(x.detach(), history, None, settings)
