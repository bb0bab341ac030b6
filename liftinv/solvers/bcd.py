r"""Block-coordinate descent for lifted training, as a ``torch.optim.Optimizer``.

One call of :meth:`BCD.step_batch` on a mini-batch :math:`(x_0, y)`:

1. auxiliaries :math:`X` from a forward pass (``aux='forward'``), or the ones kept
   for these samples from their last visit (``aux='keep'``, true lifted BCD);
2. ``inner_iters`` times: ``aux_iters`` proximal-gradient sweeps over the
   auxiliary blocks (see :class:`~liftinv.lifting.LiftedProblem`), then one step on
   every weight block :math:`\theta_l` with the :math:`\sigma`-free gradient.

Weight-block updates (one parameter group per layer):

* ``'prox-grad'``: :math:`\theta \leftarrow \mathrm{prox}_{\gamma R}(\theta - \gamma\nabla_\theta\mathcal E)`
  with :math:`\gamma = \text{step\_scale}/L_\theta`, :math:`L_\theta = \lambda_l\kappa_l\|J_l\|^2/s
  (+ 1/\tau)` from a warm-started power iteration, :math:`R = \tfrac{wd}2\|\theta\|^2`;
  ``momentum='heavy-ball'`` adds :math:`\beta(\theta^k - \theta^{k-1})`;
  ``momentum='nesterov'`` takes the gradient at
  :math:`\hat\theta = \theta^k + \beta_k(\theta^k - \theta^{k-1})` with the FISTA
  sequence :math:`\beta_k = (t_{k-1}-1)/t_k` (or a constant ``beta``);
* ``'adam'``: Adam on the same gradients (learning rate ``lr``).

``prox_weight`` :math:`= 1/\tau > 0` adds the proximal term
:math:`\tfrac1{2\tau}\|\Theta - \Theta^k\|^2` anchored at the weights the batch started
from: that is the implicit stochastic gradient method (see :class:`ISGM`).
"""

from __future__ import annotations

import math

import torch

from ..distributed import all_reduce_scalars, all_reduce_sum_, broadcast_module_
from ..lifting.problem import LiftedProblem
from .aux_memory import AuxMemory

_WEIGHT_UPDATES = ("prox-grad", "adam")
_MOMENTA = (None, "nesterov", "heavy-ball")


class BCD(torch.optim.Optimizer):
    """Lifted block-coordinate descent over auxiliaries and weights.

    Parameters
    ----------
    problem: the :class:`LiftedProblem` (network, penalty, layer weights).
    weight_update: ``'prox-grad'`` (Lipschitz steps) or ``'adam'``.
    momentum: ``None``, ``'nesterov'`` or ``'heavy-ball'`` (prox-grad only).
    beta: momentum coefficient; ``None`` gives FISTA's sequence (Nesterov) or 0.9.
    lr, betas, eps: Adam's settings.
    weight_decay: :math:`wd` in :math:`R(\\theta) = \\tfrac{wd}2\\|\\theta\\|^2`.
    aux_iters: auxiliary sweeps per inner iteration.
    order: ``'even-odd'`` (independent groups, parallel) or ``'backward'`` (last
        hidden layer to first); see :meth:`LiftedProblem.aux_order`.
    layer_batching: with ``order='even-odd'``, update the blocks of a colour group in
        one batched call across layers (grouped convolutions for the DFB-PNN); same
        iterates up to rounding, see :meth:`LiftedProblem.aux_sweep`.
    inner_iters: (auxiliary sweeps, weight step) alternations per mini-batch.
    step_scale: multiplies every :math:`1/L` step (keep it below 2).
    lipschitz_every: refresh the Lipschitz estimates (operator norms of the maps,
        weight-block constants) every this many steps; 1 tracks them exactly.
    lam_growth, lam_max: continuation of the penalty weights: after every step
        :math:`\\lambda_l \\leftarrow \\min(\\text{lam\\_growth}\\,\\lambda_l, \\text{lam\\_max})`
        (the quadratic-penalty method's :math:`\\mu\\to\\infty`: as the weights grow the
        auxiliaries stay closer to the forward pass and the sigma-free weight gradients
        approach the loss's).  1 (the default) keeps them fixed.
    monitor_every: evaluate the lifted objective and violation every this many
        steps (they cost about one forward pass); other steps return ``{}``.
    prox_weight: :math:`1/\\tau` of the ISGM proximal term (0 disables it).
    aux: ``'forward'`` (rebuilt per mini-batch) or ``'keep'`` (kept per sample).
    aux_storage, aux_path: where kept auxiliaries live: ``'device'`` (with the network),
        ``'pinned'`` (page-locked CPU memory) or ``'mmap'`` (a memory-mapped file in the
        folder ``aux_path``, default a temporary one); see :class:`AuxMemory`.
    exact_norms: operator norms to convergence instead of one warm iteration (tests).
    """

    def __init__(
        self,
        problem: LiftedProblem,
        *,
        weight_update: str = "prox-grad",
        momentum: str | None = None,
        beta: float | None = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        aux_iters: int = 1,
        order: str = "even-odd",
        layer_batching: bool = False,
        inner_iters: int = 1,
        step_scale: float = 1.0,
        lipschitz_every: int = 1,
        prox_weight: float = 0.0,
        aux: str = "forward",
        aux_storage: str = "device",
        aux_path: str | None = None,
        exact_norms: bool = False,
        monitor_every: int = 1,
        lam_growth: float = 1.0,
        lam_max: float = float("inf"),
    ) -> None:
        if weight_update not in _WEIGHT_UPDATES:
            raise ValueError(f"weight_update must be one of {_WEIGHT_UPDATES}, got {weight_update!r}")
        if momentum not in _MOMENTA:
            raise ValueError(f"momentum must be one of {_MOMENTA}, got {momentum!r}")
        if momentum is not None and weight_update == "adam":
            raise ValueError("momentum applies to weight_update='prox-grad'; Adam has its own")
        if layer_batching and order != "even-odd":
            raise ValueError("layer_batching needs order='even-odd' (the backward order updates one layer at a time)")
        if aux not in ("forward", "keep"):
            raise ValueError(f"aux must be 'forward' or 'keep', got {aux!r}")
        if not 0 < step_scale < 2:
            raise ValueError(f"step_scale must lie in (0, 2), got {step_scale}")
        if lam_growth < 1 or lam_max <= 0:
            raise ValueError(f"lam_growth must be >= 1 and lam_max > 0, got {lam_growth}, {lam_max}")
        if min(aux_iters, inner_iters, lipschitz_every, monitor_every) < 1 or prox_weight < 0 or weight_decay < 0:
            raise ValueError("aux_iters, inner_iters, lipschitz_every >= 1; prox_weight, weight_decay >= 0")
        self.problem = problem
        self.network = problem.network
        nonlinear = [l for l in range(1, problem.depth + 1) if not self.network.layer(l).params_linear]
        if weight_update == "prox-grad" and nonlinear:
            raise ValueError(
                f"Layers {nonlinear} are not linear in their parameters, so their weight blocks have "
                "no Lipschitz constant by power iteration; use weight_update='adam'"
            )
        groups = []
        for l in range(1, problem.depth + 1):
            params = [p for p in self.network.layer(l).parameters() if p.requires_grad]
            if params:
                groups.append({"params": params, "layer": l})
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, prox_weight=prox_weight)
        super().__init__(groups, defaults)
        self.weight_update, self.momentum, self.beta = weight_update, momentum, beta
        problem.aux_order(order)  # validates
        self.layer_batching = layer_batching
        self.aux_iters, self.inner_iters, self.order = aux_iters, inner_iters, order
        self.step_scale, self.lipschitz_every = step_scale, lipschitz_every
        self.aux, self.exact_norms, self.monitor_every = aux, exact_norms, monitor_every
        self.aux_storage, self.aux_path = aux_storage, aux_path
        self.lam_growth, self.lam_max = float(lam_growth), float(lam_max)
        self._norms: dict | None = None
        self.memory: AuxMemory | None = None
        self._pending: tuple | None = None
        self._steps = 0

    # -- data-set bookkeeping ------------------------------------------------------------
    def prepare(self, n_samples: int) -> None:
        """Called by :func:`~liftinv.solvers.fit` before training on ``n_samples`` samples
        (this rank's shard in data-parallel training, where rank 0's weights are copied
        to every rank first)."""
        broadcast_module_(self.network)
        self.network.refresh()
        if self.aux == "keep":
            self.memory = AuxMemory(self.network, n_samples, storage=self.aux_storage, path=self.aux_path)

    # -- torch.optim.Optimizer contract -----------------------------------------------------
    def set_batch(self, x0: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None) -> None:
        """Give the batch that the next :meth:`step` trains on (for trainers that call step())."""
        self._pending = (x0, y, index)

    def step(self, closure=None):
        """One lifted update on the batch given by :meth:`set_batch` (gradients are ignored)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self._pending is None:
            raise RuntimeError("BCD.step() needs a batch: call set_batch(x0, y) first, or step_batch(x0, y)")
        x0, y, index = self._pending
        self._pending = None
        self.step_batch(x0, y, index)
        return loss

    # -- the lifted step ----------------------------------------------------------------------
    def step_batch(self, x0: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None) -> dict:
        """One BCD update on a mini-batch.

        Returns ``{'lifted': ..., 'violation': ...}`` at the auxiliaries reached (every
        ``monitor_every`` steps, else ``{}``).
        """
        problem = self.problem
        problem.check_batch(x0, y)
        saved_lam = self._solver_state.get("lam")
        if saved_lam is not None:  # a continued schedule (e.g. after load_state_dict)
            problem.lam = list(saved_lam)
        kept = self.memory is not None and index is not None and self.memory.has(index)
        if kept:
            states, cache = [x0] + self.memory.load(index), {}
        else:
            states, cache = problem.init_aux(x0)
        anchor = None
        if self.defaults["prox_weight"] > 0:
            anchor = [[p.detach().clone() for p in g["params"]] for g in self.param_groups]
        n_total = int(all_reduce_scalars([y.shape[0]])[0])  # the global batch (all ranks)
        stats: dict = {}
        for it in range(self.inner_iters):
            if self._norms is None or self._steps % self.lipschitz_every == 0 or self.exact_norms:
                self._norms = problem.map_norms(self._norm_vecs(), exact=self.exact_norms)
            norms = self._norms
            for _ in range(self.aux_iters):
                problem.aux_sweep(states, y, cache, norms, self.step_scale, self.order, self.layer_batching)
            if self.momentum == "nesterov":
                self._extrapolate()
            params = [p for g in self.param_groups for p in g["params"]]
            grads, cache = problem.weight_gradients(states, y, params, n_total)
            with torch.no_grad():
                grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
                all_reduce_sum_(grads)  # data parallel: the ranks' shares of the mean gradient
                if it == self.inner_iters - 1 and self._steps % self.monitor_every == 0:
                    stats = self._monitor(states, y, cache, n_total)
                self._update_weights(grads, states, anchor, n_total)
                self.network.refresh()
                if self.lam_growth != 1.0:
                    problem.lam = [min(lam * self.lam_growth, self.lam_max) for lam in problem.lam]
                    self._solver_state["lam"] = list(problem.lam)  # for resuming
            cache = {}
            self._steps += 1
        if self.memory is not None and index is not None:
            self.memory.store(index, states[1:])
        return stats

    def _monitor(self, states, y, cache, n_total: int) -> dict:
        """Lifted objective and violation, averaged over the global batch."""
        local = self.problem.evaluate(states, y, cache)
        share = y.shape[0] / n_total
        lifted, violation = all_reduce_scalars([local["lifted"] * share, local["violation"] * share])
        return {"lifted": lifted, "violation": violation}

    @property
    def _solver_state(self) -> dict:
        """Solver-wide state (norm warm starts, penalty weights), kept under the first
        parameter so that ``state_dict``/``load_state_dict`` carry it."""
        return self.state[self.param_groups[0]["params"][0]]

    def _norm_vecs(self) -> dict:
        """Warm starts of the operator-norm power iterations."""
        return self._solver_state.setdefault("norm_vecs", {})

    # -- weight updates ------------------------------------------------------------------------
    @torch.no_grad()
    def _extrapolate(self) -> None:
        for group in self.param_groups:
            gstate = self.state[group["params"][0]]
            t_prev = gstate.get("t", 1.0)
            t = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t_prev**2))
            beta = self.beta if self.beta is not None else (t_prev - 1.0) / t
            gstate["t"] = t
            for p in group["params"]:
                st = self.state[p]
                prev = st.get("prev")
                st["prev"] = p.detach().clone()
                if prev is not None:
                    p.add_(p - prev, alpha=beta)

    def _lipschitz(self, group, states, batch: int) -> float:
        l = group["layer"]
        gstate = self.state[group["params"][0]]
        if "lip" not in gstate or self._steps % self.lipschitz_every == 0 or self.exact_norms:
            vecs = gstate.get("power")
            cold = vecs is None or self.exact_norms
            if cold:
                gen = torch.Generator().manual_seed(l)
                vecs = [torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device) for p in group["params"]]
            n_iter = 200 if self.exact_norms else (10 if cold else 1)
            est, gstate["power"] = self.problem.jacobian_norm_sq(l, states, vecs, n_iter)
            pen = self.problem.penalty_of(l)
            gstate["lip"] = self.problem.lam_of(l) * pen.curvature * est / batch
        return gstate["lip"] + group["prox_weight"]

    @torch.no_grad()
    def _update_weights(self, grads, states, anchor, batch: int) -> None:
        per_group, k = [], 0
        for gi, group in enumerate(self.param_groups):
            params = group["params"]
            gs = grads[k : k + len(params)]
            k += len(params)
            if anchor is not None:
                torch._foreach_add_(gs, torch._foreach_sub(params, anchor[gi]), alpha=group["prox_weight"])
            per_group.append((group, params, gs))
        if self.weight_update == "adam":
            self._adam_layers(per_group)
            return
        for group, params, gs in per_group:
            gamma = self.step_scale / max(self._lipschitz(group, states, batch), 1e-12)
            for p, g in zip(params, gs):
                st = self.state[p]
                if self.momentum == "heavy-ball":
                    prev = st.get("prev")
                    st["prev"] = p.detach().clone()
                    if prev is not None:
                        p.add_(p - prev, alpha=0.9 if self.beta is None else self.beta)
                p.add_(g, alpha=-gamma)
                if group["weight_decay"] > 0:
                    p.div_(1.0 + gamma * group["weight_decay"])

    def _adam_layers(self, per_group) -> None:
        """Adam on every layer's block at once: the layers are independent, so the groups
        that share their settings are one set of ``foreach`` kernels (not one per layer)."""
        buckets: dict[tuple, list] = {}
        for group, params, gs in per_group:
            key = (group["lr"], tuple(group["betas"]), group["eps"], group["weight_decay"])
            buckets.setdefault(key, []).append((group, params, gs))
        for members in buckets.values():
            for group, _, _ in members:  # the step count stays per layer (state_dict compatible)
                gstate = self.state[group["params"][0]]
                gstate["adam_step"] = gstate.get("adam_step", 0) + 1
            first = members[0][0]
            self._adam(first, [p for _, ps, _ in members for p in ps], [g for _, _, gs in members for g in gs],
                       self.state[first["params"][0]]["adam_step"])

    def _adam(self, group, params, grads, k: int) -> None:
        """Adam (Kingma & Ba) at step ``k`` on the lifted gradients, vectorised over the tensors."""
        b1, b2 = group["betas"]
        if group["weight_decay"] > 0:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        for p in params:
            st = self.state[p]
            if "exp_avg" not in st:
                st["exp_avg"], st["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
        m = [self.state[p]["exp_avg"] for p in params]
        v = [self.state[p]["exp_avg_sq"] for p in params]
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, math.sqrt(1 - b2**k))
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, m, denom, value=-group["lr"] / (1 - b1**k))


class ISGM(BCD):
    r"""Implicit stochastic gradient method (Toulis–Airoldi) for lifted training.

    Per mini-batch :math:`S_p` and outer step :math:`k`, approximately solve

    .. math::
        \min_{\Theta, X_{S_p}} \frac1{|S_p|}\sum_{i\in S_p}\sum_l B_l(x_l^i, v_l^i)
        + \frac{1}{2\tau}\|\Theta - \Theta^k\|^2

    by ``inner_iters`` proximal-gradient alternations (auxiliaries initialised by a
    forward pass with :math:`\Theta^k`); the proximal term adds :math:`1/\tau` to each
    weight block's Lipschitz constant.  The papers leave :math:`\tau`, the number of
    inner iterations and the batch size open; the defaults here (``tau=1``,
    ``inner_iters=5``) are ours.
    """

    def __init__(self, problem: LiftedProblem, *, tau: float = 1.0, inner_iters: int = 5, **kwargs) -> None:
        if tau <= 0:
            raise ValueError(f"tau must be positive, got {tau}")
        kwargs.setdefault("aux", "forward")
        super().__init__(problem, inner_iters=inner_iters, prox_weight=1.0 / tau, **kwargs)
        self.tau = tau
