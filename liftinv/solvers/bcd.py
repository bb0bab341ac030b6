r"""Block-coordinate descent for lifted training, as a ``torch.optim.Optimizer``.

One call of :meth:`BCD.step` (or :meth:`BCD.step_batch`) on a mini-batch :math:`(x_0, y)`
of :math:`s` samples::

    X <- forward pass of x_0                      (aux = ForwardAux())
      or the auxiliaries kept for these samples   (aux = KeptAux(); a forward pass on first visit)
    Theta_k <- Theta                              (anchor, only if prox_weight > 0)
    repeat inner_iters times:
        repeat aux_iters times:
            for each group of auxiliary blocks (order):            (LiftedProblem.aux_sweep)
                x_m <- prox_{mu lam_m P_m(., v_m)}(x_m - mu grad_{x_m} E),  mu = step_scale / L_m
        g_l <- grad_{theta_l} E(Theta, X) + prox_weight (theta_l - theta_l^k)   (no sigma' needed)
        theta_l <- weight step (ProxGrad or Adam) with g_l, for every layer l
        lam_l <- min(growth lam_l, max)                            (PenaltySchedule)

with :math:`\mathcal E` the lifted objective of :class:`~liftinv.lifting.LiftedProblem`,
:math:`L_m = \sum_r\lambda_r\kappa_r\|M_{r,m}\|^2` the auxiliary blocks' Lipschitz constants
and, for :class:`~liftinv.solvers.strategies.ProxGrad`, :math:`L_\theta =
\lambda_l\kappa_l\|J_l\|^2/s + \text{prox\_weight}` the weight blocks' (warm-started power
iterations, refreshed every ``lipschitz_every`` steps).  ``prox_weight`` :math:`= 1/\tau > 0`
adds :math:`\tfrac1{2\tau}\|\Theta - \Theta^k\|^2`, anchored at the weights the batch started
from: the implicit stochastic gradient method (:class:`ISGM`).

Every setting is a hyperparameter of the optimizer: it lives in ``defaults`` and in every
parameter group (one per layer), is read from the groups at each step (so
``torch.optim.lr_scheduler`` drives Adam's ``lr``) and is saved by ``state_dict``.  The
settings of the whole solver (all but the weight step's and ``prox_weight``) must agree
between the groups.
"""

from __future__ import annotations

import warnings

import torch

from ..distributed import all_reduce_scalars, all_reduce_sum_, broadcast_module_
from ..lifting.problem import LiftedProblem
from .aux_memory import AuxMemory
from .strategies import (
    MOMENTA,
    WEIGHTS,
    Adam,
    ForwardAux,
    KeptAux,
    PenaltySchedule,
    ProxGrad,
    as_aux,
    as_schedule,
    as_weights,
)
from .weight_updates import WeightUpdates

#: settings of the whole solver: every parameter group holds the same value
SHARED = ("weights", "aux", "aux_storage", "aux_path", "lam_growth", "lam_max", "order", "layer_batching",
          "aux_iters", "inner_iters", "lipschitz_every", "monitor_every", "exact_norms", "step_scale", "gradient",
          "aux_step")
#: where the weight gradient is taken (see LiftedProblem.weight_gradients)
GRADIENTS = ("aux", "forward", "matched")
#: the auxiliary blocks' step: the prox of the block (Euclidean) or, in the matched sweep, the mirror
#: step in the geometry of the activation's phi (LiftedProblem.matched_sweep)
AUX_STEPS = ("prox", "mirror")
#: the default step scale of mirror steps: small steps, where the secant residual is back-propagation's
#: sigma' (docs/maths.md, "Mirror steps"; on every MLP measured, steps of 1/L_m were worse per step)
MIRROR_STEP_SCALE = 0.01
#: settings that may differ between layers (parameter groups)
PER_LAYER = {"prox-grad": ("momentum", "beta", "weight_decay", "prox_weight"),
             "adam": ("lr", "betas", "eps", "weight_decay", "prox_weight")}


#: the settings ``gradient='matched'`` needs: one backward sweep from the forward pass, Adam weights
MATCHED_NEEDS = {"order": "backward", "aux": "forward", "weights": "adam", "aux_iters": 1}


def matched_conflicts(settings: dict) -> list[str]:
    """``['key=value', ...]`` of the ``settings`` (names, as in the parameter groups) that rule out
    ``gradient='matched'``; empty when it applies."""
    return [f"{k}={settings[k]!r}" for k, ok in MATCHED_NEEDS.items() if settings[k] != ok]


def _check_solver_settings(s: dict) -> None:
    """Validate the settings of a parameter group (raises ``ValueError``)."""
    if s["weights"] not in WEIGHTS:
        raise ValueError(f"weights must be one of {tuple(WEIGHTS)}, got {s['weights']!r}")
    if s["weights"] == "prox-grad" and s.get("momentum") not in MOMENTA:
        raise ValueError(f"momentum must be one of {MOMENTA}, got {s.get('momentum')!r}")
    if s["layer_batching"] and s["order"] != "even-odd":
        raise ValueError("layer_batching needs order='even-odd' (the backward order updates one layer at a time)")
    if not 0 < s["step_scale"] < 2:
        raise ValueError(f"step_scale must lie in (0, 2), got {s['step_scale']}")
    if min(s["aux_iters"], s["inner_iters"], s["lipschitz_every"], s["monitor_every"]) < 1:
        raise ValueError("aux_iters, inner_iters, lipschitz_every and monitor_every must be >= 1")
    if s["prox_weight"] < 0 or s["weight_decay"] < 0:
        raise ValueError("prox_weight and weight_decay must be >= 0")
    if s["gradient"] not in GRADIENTS:
        raise ValueError(f"gradient must be one of {GRADIENTS}, got {s['gradient']!r}")
    if s["aux_step"] not in AUX_STEPS:
        raise ValueError(f"aux_step must be one of {AUX_STEPS}, got {s['aux_step']!r}")
    if s["aux_step"] == "mirror" and s["gradient"] != "matched":
        raise ValueError("aux_step='mirror' is a step from the forward pass (where grad phi(x) is the "
                         f"pre-activation): it needs gradient='matched', got gradient={s['gradient']!r}")
    if s["gradient"] == "matched":
        wrong = matched_conflicts(s)
        if wrong:
            raise ValueError("gradient='matched' is one backward sweep from the forward pass with Adam on the "
                             "weights: it needs order='backward', aux='forward', weights='adam', aux_iters=1; got "
                             + ", ".join(wrong))


class BCD(WeightUpdates, torch.optim.Optimizer):
    """Lifted block-coordinate descent over auxiliaries and weights (see the module doc).

    Parameters
    ----------
    problem: the :class:`LiftedProblem` (network, penalty, layer weights).
    weights: the weight step, :class:`~liftinv.solvers.strategies.ProxGrad` (Lipschitz
        steps, optional momentum) or :class:`~liftinv.solvers.strategies.Adam`, or its
        name (``'prox-grad'``, ``'adam'``) for the default settings.
    aux: :class:`~liftinv.solvers.strategies.ForwardAux` (rebuilt per mini-batch) or
        :class:`~liftinv.solvers.strategies.KeptAux` (kept per sample), or ``'forward'`` /
        ``'keep'``.
    schedule: the penalty weights' continuation,
        :class:`~liftinv.solvers.strategies.PenaltySchedule` (fixed by default).
    order: ``'backward'`` (default: last hidden layer to first, so one sweep from the forward
        pass carries the loss to every layer) or ``'even-odd'`` (independent groups, parallel,
        but from a forward pass the signal goes down one or two layers per sweep: with
        ``aux='forward'`` it needs about ``depth - 1`` sweeps, ``aux_iters * inner_iters``, to reach
        the first layers, and fewer leave them untrained, with a warning); see
        :meth:`LiftedProblem.aux_order`.
    layer_batching: with ``order='even-odd'``, update the blocks of a colour group in
        one batched call across layers (grouped convolutions for the DFB-PNN); same
        iterates up to rounding, see :meth:`LiftedProblem.aux_sweep`.
    aux_iters: auxiliary sweeps per inner iteration.
    inner_iters: (auxiliary sweeps, weight step) alternations per mini-batch.
    lipschitz_every: refresh the Lipschitz estimates (operator norms of the maps,
        weight-block constants) every this many steps; 1 tracks them exactly.
    monitor_every: evaluate the lifted objective and violation every this many
        mini-batches, after their last inner iteration (they cost about one forward pass);
        other steps return ``{}``.
    prox_weight: :math:`1/\\tau` of the ISGM proximal term (0 disables it).
    exact_norms: operator norms to convergence instead of one warm iteration (tests).
    gradient: where the weight gradient is taken: ``'aux'``, the lifted objective's gradient
        at the auxiliaries reached; ``'forward'``, the forward-anchored gradient (each layer
        reads the forward pass's states and is pulled towards its auxiliary; see
        :meth:`LiftedProblem.weight_gradients`); it needs no second evaluation of the layers;
        ``'matched'``, the forward-anchored gradient after :meth:`LiftedProblem.matched_sweep`,
        whose displacements carry back-propagation's signal on one scale for every layer
        (needs ``order='backward'``, ForwardAux, Adam weights, ``aux_iters=1``).
    aux_step: ``'prox'``, the auxiliary blocks' proximal-gradient step; ``'mirror'`` (with
        ``gradient='matched'`` and a Bregman-type penalty), the step in the geometry of each
        activation's :math:`\\phi`, :math:`x_m = \\sigma_m(v_m^f - (1-t_m)\\mu_m g_m)`: one
        :math:`\\sigma` per block where a smooth activation's prox is a Newton solve
        (:meth:`LiftedProblem.matched_sweep`).  ``None`` (default): ``'mirror'`` where it applies,
        else ``'prox'``.
    step_scale: with Adam weights, the auxiliary steps are ``step_scale / L_m`` (in (0, 2);
        default 1, and :data:`MIRROR_STEP_SCALE` for mirror steps); ProxGrad carries its own.

    Frozen parameters (``requires_grad=False``) are left unchanged: they belong to no
    parameter group and are constants of the lifted objective.
    """

    def __init__(
        self,
        problem: LiftedProblem,
        *,
        weights: ProxGrad | Adam | str | dict = "prox-grad",
        aux: ForwardAux | KeptAux | str | dict = "forward",
        schedule: PenaltySchedule | dict | None = None,
        order: str = "backward",
        layer_batching: bool = False,
        aux_iters: int = 1,
        inner_iters: int = 1,
        lipschitz_every: int = 1,
        monitor_every: int = 1,
        prox_weight: float = 0.0,
        exact_norms: bool = False,
        gradient: str = "aux",
        aux_step: str | None = None,
        step_scale: float | None = None,
    ) -> None:
        if not isinstance(problem, LiftedProblem):
            raise TypeError(f"{type(self).__name__} trains a LiftedProblem, got {type(problem).__name__}: "
                            f"{type(self).__name__}(LiftedProblem(net), ...) (which also sets the penalty and lam)")
        weights, aux, schedule = as_weights(weights), as_aux(aux), as_schedule(schedule)
        if aux_step is None:
            aux_step = "mirror" if gradient == "matched" and problem.penalty.has_mirror_step else "prox"
        defaults = dict(
            weights=weights.name, **weights.hyperparameters(),
            aux=aux.name, **{f"aux_{k}": v for k, v in aux.hyperparameters().items()},
            lam_growth=float(schedule.growth), lam_max=float(schedule.max),
            order=order, layer_batching=bool(layer_batching), aux_iters=int(aux_iters),
            inner_iters=int(inner_iters), lipschitz_every=int(lipschitz_every),
            monitor_every=int(monitor_every), prox_weight=float(prox_weight), exact_norms=bool(exact_norms),
            gradient=gradient, aux_step=aux_step,
        )
        if step_scale is not None:  # the auxiliary steps' scale, with Adam on the weights
            if weights.name == "prox-grad":
                raise ValueError("with ProxGrad weights give the step scale as ProxGrad(step_scale=...): "
                                 "it scales the weight steps too")
            defaults["step_scale"] = float(step_scale)
        # Adam: the auxiliary steps are step_scale / L_m
        defaults.setdefault("step_scale", MIRROR_STEP_SCALE if aux_step == "mirror" else 1.0)
        _check_solver_settings(defaults)
        problem.aux_order(order)  # validates
        no_prox = [li for li in range(1, problem.depth) if not problem.network.activation(li).has_prox] \
            if aux_step == "prox" else []
        if no_prox:
            act = problem.network.activation(no_prox[0])
            raise ValueError(f"hidden layers {no_prox} use {act}, which has no prox, and aux_step='prox' takes one: "
                             "use gradient='matched' (mirror steps), or train the network with Backprop")
        sweeps = int(aux_iters) * int(inner_iters)
        if aux.name == "forward" and gradient != "matched":
            unreached = problem.unreached_layers(order, sweeps)
            if unreached:
                warnings.warn(f"with order={order!r} and auxiliaries from the forward pass (aux='forward'), "
                              f"{sweeps} sweep(s) per batch do not reach layers "
                              f"{unreached}: their weight gradient is exactly 0 and they will not train; use "
                              "order='backward' (the default), aux_iters/inner_iters >= depth - 1, or aux='keep'",
                              stacklevel=2)
        if aux_step == "mirror" and not problem.penalty.has_mirror_step:
            raise ValueError(f"aux_step='mirror' needs a Bregman-type penalty (bregman, fenchel), "
                             f"got {problem.penalty.name!r}")
        self.problem = problem
        self.network = problem.network
        nonlinear = [li for li in range(1, problem.depth + 1) if not self.network.layer(li).params_linear]
        # the matched sweep takes the weight gradients in its own backward passes where a layer's
        # adjoint and weight gradient share products (layers not linear in their parameters: the
        # unrolled networks' composite maps); on plain affine layers a backward pass per layer costs
        # more than it saves.  Such layers also rule out prox-grad weights (below), whose
        # extrapolation would move the weights between the sweep and the gradient.
        self._fuse_matched = bool(nonlinear)
        if weights.name == "prox-grad" and nonlinear:
            raise ValueError(
                f"Layers {nonlinear} are not linear in their parameters, so their weight blocks have "
                "no Lipschitz constant by power iteration; use weights=Adam() (or 'adam')"
            )
        groups = []
        for li in range(1, problem.depth + 1):
            params = [p for p in self.network.layer(li).parameters() if p.requires_grad]
            if params:
                groups.append({"params": params, "layer": li})
        super().__init__(groups, defaults)
        self.memory: AuxMemory | None = None
        self._pending: tuple | None = None
        self._stats: dict = {}

    # -- settings -------------------------------------------------------------------------------
    def settings(self) -> dict:
        """The solver-wide settings, read from the parameter groups (which must agree)."""
        first = self.param_groups[0]
        values = tuple(map(first.get, SHARED))  # read every step: one C-level pass per group
        for group in self.param_groups[1:]:
            if tuple(map(group.get, SHARED)) != values:
                key = next(k for k in SHARED if group.get(k) != first.get(k))
                raise ValueError(
                    f"{key!r} is a setting of the whole solver, but parameter groups hold "
                    f"{first.get(key)!r} and {group.get(key)!r} (layer {group.get('layer')})"
                )
        return {key: first[key] for key in SHARED if key in first}

    @property
    def config(self) -> dict:
        """The solver's settings as plain (JSON-able) data, for checkpoints and reports.

        ``BCD.from_config(problem, solver.config)`` builds the same solver; settings that
        differ between layers are listed under ``'layers'`` (layer -> settings).
        """
        s, first = self.settings(), self.param_groups[0]
        keys = [f.name for f in WEIGHTS[s["weights"]].__dataclass_fields__.values()]
        wvals = {k: first[k] for k in keys}
        weights = WEIGHTS[s["weights"]](**wvals).to_dict()
        aux = {"name": s["aux"], **{k[4:]: s[k] for k in ("aux_storage", "aux_path") if k in s}}
        out = {
            "solver": type(self).__name__, "weights": weights, "aux": aux,
            "schedule": PenaltySchedule(s["lam_growth"], s["lam_max"]).to_dict(),
            **{k: s[k] for k in ("order", "layer_batching", "aux_iters", "inner_iters", "lipschitz_every",
                                 "monitor_every", "exact_norms", "gradient", "aux_step")},
            "prox_weight": first["prox_weight"],
        }
        if s["weights"] == "adam":  # always: its default depends on aux_step (ProxGrad keeps its own)
            out["step_scale"] = s["step_scale"]
        per_layer = PER_LAYER[s["weights"]]
        layers = {}
        for group in self.param_groups[1:]:
            diff = {k: (list(group[k]) if isinstance(group[k], tuple) else group[k])
                    for k in per_layer if group[k] != first[k]}
            if diff:
                layers[str(group["layer"])] = diff
        if layers:
            out["layers"] = layers
        return out

    @classmethod
    def from_config(cls, problem: LiftedProblem, config: dict) -> BCD:
        """The solver that :attr:`config` describes (``'solver'`` may name :class:`ISGM`)."""
        config = dict(config)
        from .isgm import ISGM  # (a subclass, in its own file)

        kind = config.pop("solver", cls.__name__)
        target = {"BCD": BCD, "ISGM": ISGM}.get(kind, cls)
        layers = config.pop("layers", {})
        if target is ISGM:
            config.pop("prox_weight", None)
            config.setdefault("tau", 1.0)
        solver = target(problem, **config)
        for group in solver.param_groups:
            for k, v in layers.get(str(group["layer"]), {}).items():
                group[k] = tuple(v) if k == "betas" else v
        return solver

    def load_state_dict(self, state_dict: dict) -> None:
        """torch's, then fills settings missing from an older state (from ``defaults``) and
        converts an older per-layer Adam step count (``adam_step``) to torch's per-tensor ``step``.

        Kept auxiliaries (``aux='keep'``) are not part of the state (they take
        :func:`~liftinv.solvers.aux_memory.aux_bytes`, gigabytes for image data sets): a resumed
        run rebuilds each sample's by a forward pass at its first visit, so it is not the
        uninterrupted run (a warning says so); every other setting resumes exactly."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for k, v in self.defaults.items():
                group.setdefault(k, v)
            gstate = self.state.get(group["params"][0], {})
            if "adam_step" in gstate:
                k = float(gstate.pop("adam_step"))
                for p in group["params"]:
                    if "exp_avg" in self.state[p]:
                        self.state[p]["step"] = torch.tensor(k, dtype=torch.float32)
        if self.settings()["aux"] == "keep":
            warnings.warn("the kept auxiliaries are not saved with the solver's state: this resumed run rebuilds "
                          "them by a forward pass at each sample's first visit, so it differs from an "
                          "uninterrupted one", stacklevel=2)

    # -- data-set bookkeeping ------------------------------------------------------------
    def prepare(self, n_samples: int) -> None:
        """Called by :func:`~liftinv.solvers.fit` before training on ``n_samples`` samples
        (this rank's shard in data-parallel training, where rank 0's weights are copied
        to every rank first; a fresh solver then refreshes the network's step sizes from those
        weights, a resumed one keeps the checkpoint's, as the uninterrupted run had them)."""
        broadcast_module_(self.network)
        if self._steps == 0:
            self.network.refresh()
        s = self.settings()
        if s["aux"] == "keep":
            self.memory = AuxMemory(self.network, n_samples, storage=s["aux_storage"], path=s["aux_path"])

    # -- torch.optim.Optimizer contract -----------------------------------------------------
    def set_batch(self, x0: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None) -> None:
        """Give the batch that the next :meth:`step` trains on (for trainers that call step())."""
        self._pending = (x0, y, index)

    def step(self, closure=None):
        """One lifted update on the batch given by :meth:`set_batch` (gradients are ignored).

        Returns the closure's loss (``None`` without one); the lifted statistics of the
        step are in :attr:`last_stats`.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self._pending is None:
            raise RuntimeError("BCD.step() needs a batch: call set_batch(x0, y) first, or step_batch(x0, y)")
        x0, y, index = self._pending
        self._pending = None
        self._stats = self._lifted_step(x0, y, index)
        return loss

    @property
    def last_stats(self) -> dict:
        """``{'lifted': ..., 'violation': ...}`` of the last step (``{}`` if not monitored)."""
        return self._stats

    def step_batch(self, x0: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None) -> dict:
        """One BCD update on a mini-batch (:meth:`set_batch` then :meth:`step`).

        Returns ``{'lifted': ..., 'violation': ...}`` at the auxiliaries reached (every
        ``monitor_every`` steps, else ``{}``).
        """
        self.set_batch(x0, y, index)
        self.step()
        return self._stats

    # -- the lifted step ----------------------------------------------------------------------
    def _lifted_step(self, x0: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None) -> dict:
        problem, s = self.problem, self.settings()
        problem.check_batch(x0, y)
        saved_lam = self._solver_state.get("lam")
        if saved_lam is not None:  # a continued schedule (e.g. after load_state_dict)
            problem.lam = list(saved_lam)
        if s["aux"] == "keep" and (self.memory is None or index is None):
            raise ValueError("aux='keep' keeps every training sample's auxiliaries between visits: call "
                             "solver.prepare(n_samples) once and give step_batch the samples' indices "
                             "(fit does both), or use aux='forward'")
        kept = self.memory is not None and index is not None and self.memory.has(index)
        anchored, matched = s["gradient"] == "forward", s["gradient"] == "matched"
        fused = matched and self._fuse_matched  # weight gradients inside the matched sweep
        mirror = s["aux_step"] == "mirror"
        graphs = residuals = None  # anchored gradients: the forward pass keeps its one-layer graphs
        # Nesterov: the gradient is taken at the extrapolated weights.  The forward-anchored
        # gradient reads the step's forward pass, so it extrapolates before that pass; the
        # gradient at the auxiliaries extrapolates after the sweep (its auxiliaries are the ones
        # reached before).  (The matched gradient takes Adam weights: no extrapolation.)
        early = s["weights"] == "prox-grad" and anchored
        if early:
            self._extrapolate()
        if kept:
            states, cache = [x0] + self.memory.load(index), {}
        elif anchored or matched:
            states, cache, graphs = problem.forward_graphs(x0, inputs_require_grad=fused)
            forward = list(states)  # anchored: the sweeps replace the entries of states, never mutate them
        else:
            states, cache = problem.init_aux(x0)
        anchor = None
        if any(g["prox_weight"] > 0 for g in self.param_groups):
            anchor = [[p.detach().clone() for p in g["params"]] for g in self.param_groups]
        n_total = int(all_reduce_scalars([y.shape[0]])[0])  # the global batch (all ranks)
        exact, every = s["exact_norms"], s["lipschitz_every"]
        stats: dict = {}
        batch = self._steps // s["inner_iters"]  # mini-batches before this one (_steps counts inner iterations)
        for it in range(s["inner_iters"]):
            if early and it > 0:
                self._extrapolate()  # the graphs of the last inner iteration are gone: rebuilt below
            if self._norms is None or self._steps % every == 0 or exact:
                self._norms = problem.map_norms(self._norm_vecs(), exact=exact)
            params = [p for g in self.param_groups for p in g["params"]]
            grads = None
            monitored = it == s["inner_iters"] - 1 and batch % s["monitor_every"] == 0
            if matched:  # from the forward pass of the current weights, every inner iteration
                if graphs is None:
                    states, cache, graphs = problem.forward_graphs(x0, inputs_require_grad=fused)
                # the auxiliaries themselves are read only by the monitor and the kept memory
                sweep = dict(mirror=mirror, keep_states=monitored or self.memory is not None)
                if fused:
                    residuals, grads = problem.matched_sweep(states, cache, y, self._norms, s["step_scale"],
                                                             graphs=graphs, params=params, n_total=n_total,
                                                             **sweep)
                else:
                    residuals = problem.matched_sweep(states, cache, y, self._norms, s["step_scale"], **sweep)
            for _ in range(0 if matched else s["aux_iters"]):
                problem.aux_sweep(states, y, cache, self._norms, s["step_scale"], s["order"], s["layer_batching"])
            if s["weights"] == "prox-grad" and not early:
                self._extrapolate()
            if anchored and graphs is None:  # kept auxiliaries, or weights changed by an inner step
                forward, _, graphs = problem.forward_graphs(x0)
            if grads is None:
                grads, cache = problem.weight_gradients(states, y, params, n_total,
                                                        inputs=forward if anchored else None,
                                                        graphs=graphs, residuals=residuals)
            # matched: this inner iteration's forward pass ran at the current weights, so its output
            # pre-activation gives the true loss without a second forward pass
            out_v = cache.get(problem.depth) if matched else None
            if anchored or matched:
                cache, graphs = {}, None  # those pre-activations read the forward states, not the auxiliaries
            with torch.no_grad():
                grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
                all_reduce_sum_(grads)  # data parallel: the ranks' shares of the mean gradient
                if monitored:
                    stats = self._monitor(states, y, cache, n_total, out_v)
                self._update_weights(grads, states, anchor, n_total)
                self.network.refresh()
                if s["lam_growth"] != 1.0:
                    problem.lam = [min(lam * s["lam_growth"], s["lam_max"]) for lam in problem.lam]
                    self._solver_state["lam"] = list(problem.lam)  # for resuming
            cache = {}
            self._steps += 1
        if self.memory is not None and index is not None:
            self.memory.store(index, states[1:])
        return stats

    def _monitor(self, states, y, cache, n_total: int, out_v: torch.Tensor | None = None) -> dict:
        """Lifted objective, violation and the true network loss (a forward pass of the
        batch's inputs, the quantity the lifted objective relaxes; ``out_v``: the output
        pre-activation of that pass, when the step has it), averaged over the global batch."""
        problem = self.problem
        local = problem.evaluate(states, y, cache)
        loss = float(problem.sample_losses(states[0], y, out_v)[0].sum()) / n_total
        share = y.shape[0] / n_total
        lifted, violation, loss = all_reduce_scalars([local["lifted"] * share, local["violation"] * share, loss])
        return {"lifted": lifted, "violation": violation, "loss": loss}

    @property
    def _solver_state(self) -> dict:
        """Solver-wide state (norm warm starts, penalty weights), kept under the first
        parameter so that ``state_dict``/``load_state_dict`` carry it."""
        return self.state[self.param_groups[0]["params"][0]]

    @property
    def _steps(self) -> int:
        """Steps taken (refreshes and monitoring fall on its multiples; resumed runs continue it)."""
        return self._solver_state.get("steps", 0)

    @_steps.setter
    def _steps(self, value: int) -> None:
        self._solver_state["steps"] = int(value)

    @property
    def _norms(self) -> dict | None:
        """:math:`\\|M_{r,m}\\|^2` of the last refresh (``None`` before the first step)."""
        return self._solver_state.get("norms")

    @_norms.setter
    def _norms(self, value: dict) -> None:
        self._solver_state["norms"] = value

    def _norm_vecs(self) -> dict:
        """Warm starts of the operator-norm power iterations."""
        return self._solver_state.setdefault("norm_vecs", {})
